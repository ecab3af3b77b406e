"""`make dev`: the whole stack on localhost, prefixed logs, a demo drop, clean Ctrl-C.

Ports come from the same variables the apps read (NATS_URL, RESTATE_INGRESS_URL, ...), so a
`.env` file or the environment moves them. Data lives under `.data/`, with the request
identity key restate signs worker calls with; NATS gets NATS_USER/NATS_PASSWORD when set,
else a password made up for this run. A process that dies is started again.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools import devbeacon, devstack
from devtools.devstack import InternalAuth, Proc, StackError
from drop.settings import ConnectionSettings, NatsAuthSettings, SecretSettings

DATA = Path(os.environ.get("DEV_DATA_DIR", str(devstack.ROOT / ".data")))
# A process that keeps dying is restarted after a growing pause (up to MAX_BACKOFF_S); one
# that stayed up STABLE_AFTER_S counts as healthy again.
MAX_BACKOFF_S = 8.0
STABLE_AFTER_S = 30.0
# The local test beacon: short rounds so a demo drop draws moments after it closes.
DEV_BEACON_PERIOD = 3
COLORS = {
    "beacon": 90,
    "smtp": 94,
    "nats": 36,
    "restate": 35,
    "worker": 33,
    "notify": 93,
    "api": 32,
    "sse": 34,
    "web": 31,
    "dev": 37,
}


def _port(url: str) -> int:
    port = urlparse(url).port
    if port is None:
        raise SystemExit(f"no port in {url}")
    return port


METRICS_OFFSETS = {"web": 0, "worker": 1, "notify": 2, "api": 3, "sse": 4}


@dataclass(frozen=True)
class DevPorts:
    nats: int
    nats_monitor: int
    ingress: int
    admin: int
    node: int
    worker: int
    # The notifications worker (mail and webhooks, WORKER_ROLE=notifications).
    notify: int
    api: int
    sse: int
    web: int
    # Each app's private METRICS_PORT is this plus its offset in METRICS_OFFSETS.
    metrics_base: int

    @classmethod
    def from_settings(cls, c: ConnectionSettings) -> DevPorts:
        return cls(
            nats=_port(c.nats_url),
            nats_monitor=int(os.environ.get("NATS_MONITOR_PORT", "8222")),
            ingress=_port(c.restate_ingress_url),
            admin=_port(c.restate_admin_url),
            node=int(os.environ.get("RESTATE_NODE_PORT", "5122")),
            worker=_port(c.worker_url),
            notify=int(os.environ.get("NOTIFICATIONS_WORKER_PORT", "9081")),
            api=_port(c.internal_api_url),
            sse=_port(c.internal_sse_url),
            web=int(os.environ.get("WEB_PORT", "3000")),
            metrics_base=int(os.environ.get("DEV_METRICS_PORT_BASE", "9100")),
        )

    def metrics(self, app: str) -> int:
        return self.metrics_base + METRICS_OFFSETS[app]

    def named(self) -> dict[str, int]:
        return {
            "nats": self.nats,
            "nats monitor": self.nats_monitor,
            "restate ingress": self.ingress,
            "restate admin": self.admin,
            "restate node": self.node,
            "worker": self.worker,
            "notifications worker": self.notify,
            "api": self.api,
            "sse": self.sse,
            "web": self.web,
            **{f"{app} metrics": self.metrics(app) for app in METRICS_OFFSETS},
        }


def say(name: str, line: str) -> None:
    color = COLORS.get(name, 37)
    prefix = f"\033[{color}m{name:>7} |\033[0m " if sys.stdout.isatty() else f"{name:>7} | "
    sys.stdout.write(prefix + line.rstrip() + "\n")
    sys.stdout.flush()


def pump(proc: Proc) -> None:
    assert proc.popen is not None and proc.popen.stdout is not None
    for raw in proc.popen.stdout:
        say(proc.name, raw.decode(errors="replace"))


def start(proc: Proc) -> Proc:
    proc.start(pipe=True)
    threading.Thread(target=pump, args=(proc,), daemon=True).start()
    return proc


@dataclass
class Supervised:
    """A process of the stack and its recent crashes, for restarts with backoff."""

    proc: Proc
    crashes: int = 0
    started_at: float = 0.0
    restart_at: float | None = None

    def launch(self) -> None:
        start(self.proc)
        self.started_at = time.monotonic()
        self.restart_at = None
        pid = self.proc.popen.pid if self.proc.popen is not None else "?"
        say("dev", f"{self.proc.name} started (pid {pid})")

    def check(self, now: float) -> None:
        """Notice a death and schedule the restart; restart when its time has come."""
        if self.restart_at is None:
            if self.proc.alive:
                if now - self.started_at > STABLE_AFTER_S:
                    self.crashes = 0
                return
            code = self.proc.popen.returncode if self.proc.popen is not None else None
            delay = 0.0 if self.crashes == 0 else min(0.5 * 2**self.crashes, MAX_BACKOFF_S)
            self.crashes += 1
            self.proc.stop()  # reap stragglers of its process group (granian's workers)
            say("dev", f"{self.proc.name} exited (code {code}); restarting in {delay:g}s")
            self.restart_at = now + delay
        if now >= self.restart_at:
            self.launch()


def seed_demo_drop(api_url: str, admin_secret: str) -> str | None:
    """Create a demo drop unless one is already open; returns its id."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        active = client.get("/api/drops/active")
        if active.status_code == 404:
            say("dev", "the API has no drops routes yet: no demo drop seeded")
            return None
        drops = active.json().get("drops", [])
        if drops:
            drop_id: str = drops[0]["dropId"]
            return drop_id
        now = int(time.time() * 1000)
        drop_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
        body = {
            "dropId": drop_id,
            "productName": "Aurora Shell Jacket",
            "productDescription": "Limited run of 25 waterproof shells.",
            "imageUrl": "/static/img/jacket.svg",
            "inventory": 25,
            "registrationStart": now,
            "registrationEnd": now + 10 * 60_000,
            "purchaseWindow": 900,
        }
        r = client.post(
            "/api/drops", json=body, headers={"Authorization": f"Bearer {admin_secret}"}
        )
        r.raise_for_status()
        return drop_id


def main() -> int:
    connections = ConnectionSettings()
    secrets = SecretSettings()
    ports = DevPorts.from_settings(connections)
    taken = [
        f"{name} ({port})" for name, port in ports.named().items() if devstack.port_in_use(port)
    ]
    if taken:
        print(
            f"port already in use: {', '.join(taken)}. Is `make dev` already running? "
            "Stop it, or move the service with its variable (see docs/configuration.md).",
            file=sys.stderr,
        )
        return 1
    DATA.mkdir(exist_ok=True)
    given = NatsAuthSettings()
    auth = InternalAuth.create(
        DATA / "auth", nats_user=given.nats_user or "drop", nats_password=given.nats_password
    )
    procs: list[Supervised] = []
    stop = devstack.StopRequest()
    stop.install()
    env = {
        "NATS_URL": f"nats://127.0.0.1:{ports.nats}",
        "RESTATE_INGRESS_URL": f"http://127.0.0.1:{ports.ingress}",
        "RESTATE_ADMIN_URL": f"http://127.0.0.1:{ports.admin}",
        "INTERNAL_API_URL": f"http://127.0.0.1:{ports.api}",
        "INTERNAL_SSE_URL": f"http://127.0.0.1:{ports.sse}",
        "INTERNAL_API_METRICS_URL": f"http://127.0.0.1:{ports.metrics('api')}",
        # A webhook receiver under development listens on this machine.
        "WEBHOOK_ALLOW_PRIVATE_URLS": os.environ.get("WEBHOOK_ALLOW_PRIVATE_URLS", "true"),
        **auth.app_env(),
    }

    def launch(proc: Proc) -> None:
        procs.append(Supervised(proc))
        procs[-1].launch()

    try:
        if "BEACON_URLS" not in os.environ:
            env.update(start_dev_beacon(launch))
        if "SMTP_URL" not in os.environ:
            env.update(start_dev_smtp(launch))
        launch(devstack.nats_proc(ports.nats, ports.nats_monitor, DATA / "nats", None, auth))
        launch(
            devstack.restate_proc(
                ports.ingress, ports.admin, ports.node, DATA / "restate", None, auth
            )
        )
        devstack.wait_nats(ports.nats_monitor)
        devstack.wait_restate(ports.ingress, ports.admin)
        # As deployed: the drop's handlers in one worker, mail and webhooks in another
        # (at a lower CPU priority), each registered with restate as its own deployment.
        for name, role, port in (
            ("worker", "drops", ports.worker),
            ("notify", "notifications", ports.notify),
        ):
            app_env = {**env, "METRICS_PORT": str(ports.metrics(name))}
            proc = devstack.worker_proc(role, port, app_env, None)
            proc.name = name
            launch(proc)
        for name, port in (("api", ports.api), ("sse", ports.sse), ("web", ports.web)):
            app_env = {**env, "METRICS_PORT": str(ports.metrics(name))}
            launch(devstack.app_proc(name, port, app_env, None))
        for port in (ports.worker, ports.notify):
            devstack.wait_http(f"http://127.0.0.1:{port}/health", "worker")
            devstack.register_worker(ports.admin, f"http://127.0.0.1:{port}")
        say("dev", "workers (drops, notifications) registered with restate")
        for name, port in (("api", ports.api), ("sse", ports.sse), ("web", ports.web)):
            devstack.wait_http(f"http://127.0.0.1:{port}/health", name)
        drop_id = seed_demo_drop(f"http://127.0.0.1:{ports.api}", secrets.admin_secret)
        print_urls(ports, drop_id)
        stop.started = True
        while not stop.requested:
            for supervised in procs:
                supervised.check(time.monotonic())
            time.sleep(0.2)
        return 0
    except KeyboardInterrupt:  # a signal while starting up (see StopRequest)
        return 0
    except (StackError, httpx.HTTPError) as exc:
        say("dev", f"failed: {exc}")
        return 1
    finally:
        stop.started = True  # from here on, signals are only counted
        say("dev", "stopping...")
        stop_in_order([s.proc for s in procs])
        say("dev", "stopped")


# Who depends on whom, read upwards: the apps use NATS, restate and the beacon; restate
# calls the worker and keeps its log in its own store; NATS is everyone's bus. Stopped top
# down, each tier at once, so a draining app (sse's NATS drain) still finds its servers.
STOP_TIERS: tuple[tuple[str, ...], ...] = (
    ("web", "sse", "api", "worker", "notify"),
    ("beacon", "smtp"),
    ("restate",),
    ("nats",),
)
STOP_TIMEOUT_S = 5.0


def stop_in_order(procs: list[Proc]) -> None:
    """Stop the stack tier by tier (STOP_TIERS); anything unnamed goes with the apps."""
    named = {name for tier in STOP_TIERS for name in tier}
    for n, tier in enumerate(STOP_TIERS):
        members = [p for p in procs if p.name in tier or (n == 0 and p.name not in named)]
        if members:
            say("dev", f"stopping {' '.join(p.name for p in members)}")
        for proc in members:
            proc.terminate()
        for proc in members:
            proc.stop(STOP_TIMEOUT_S)


MAILDIR = DATA / "mail"


def start_dev_smtp(launch: Callable[[Proc], None]) -> dict[str, str]:
    """A real local SMTP server (devtools.devsmtp) unless SMTP_URL names one: every mail
    the worker sends lands in .data/mail (a Maildir)."""
    port = int(os.environ.get("DEV_SMTP_PORT", "2525"))
    launch(devstack.smtp_proc(port, MAILDIR, None))
    devstack.wait_smtp(port)
    return devstack.smtp_env(port)


def start_dev_beacon(launch: Callable[[Proc], None]) -> dict[str, str]:
    """Run the test beacon unless BEACON_URLS names a real chain; its genesis is kept in
    .data so drops committed before a restart still find their rounds."""
    port = int(os.environ.get("DEV_BEACON_PORT", "8091"))
    genesis_file = DATA / "devbeacon-genesis"
    if not genesis_file.exists():
        genesis_file.write_text(str(int(time.time())))
    chain = devbeacon.dev_chain(int(genesis_file.read_text()), DEV_BEACON_PERIOD)
    launch(devstack.beacon_proc(port, chain, None))
    devstack.wait_beacon(port)
    return devbeacon.settings_env(chain, f"http://127.0.0.1:{port}", max_wait_s=30, retry_s=1)


def print_urls(ports: DevPorts, drop_id: str | None) -> None:
    lines = [
        f"site         http://localhost:{ports.web}/",
        f"api          http://localhost:{ports.api}/docs",
        f"sse          http://localhost:{ports.sse}/health",
        f"nats         nats://localhost:{ports.nats} (monitor http://localhost:{ports.nats_monitor})",
        f"restate      http://localhost:{ports.ingress} (admin http://localhost:{ports.admin})",
        "metrics      "
        + "  ".join(
            f"{name} http://localhost:{ports.metrics(name)}/metrics"
            for name in ("api", "sse", "web", "worker", "notify")
        ),
    ]
    if "SMTP_URL" not in os.environ:
        lines.append(
            f"mail         every message in {MAILDIR}/new (a Maildir: "
            f"`mutt -f {MAILDIR}`, or open the files)"
        )
    if drop_id:
        lines.append(f"demo drop    http://localhost:{ports.web}/drop/{drop_id}")
    announce("stack is up:", lines)


def announce(title: str, lines: list[str]) -> None:
    """What is up and where, then how to stop it."""
    say("dev", title)
    for line in lines:
        say("dev", "  " + line)
    say("dev", "Ctrl-C stops everything")


if __name__ == "__main__":
    sys.exit(main())
