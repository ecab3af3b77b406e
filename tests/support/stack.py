"""The real stack for tests: nats-server, restate-server and the apps on free ports."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools import devbeacon, devstack
from devtools.devstack import InternalAuth, Proc
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.domain.beacon import Chain


def reseeded(proc: Proc) -> Proc:
    """A worker starts with a new string hash seed every time, as a real restart would: a
    handler whose replay depends on hash order fails the tests, not production."""
    proc.env["PYTHONHASHSEED"] = str(secrets.randbelow(2**32 - 1) + 1)
    return proc


def nats_ready(health_url: str) -> bool:
    """Apps answer /health at once and connect to NATS behind it; this waits for that."""
    try:
        return httpx.get(health_url, timeout=2).json().get("nats") in (True, "ok")
    except (httpx.HTTPError, ValueError):
        return False


@dataclass
class Stack:
    """Servers and apps running in `root`; each app started on demand, at most once."""

    root: Path
    nats_port: int = field(default_factory=devstack.free_port)
    nats_monitor: int = field(default_factory=devstack.free_port)
    ingress_port: int = field(default_factory=devstack.free_port)
    admin_port: int = field(default_factory=devstack.free_port)
    node_port: int = field(default_factory=devstack.free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # Each app's private metrics port (METRICS_PORT).
    metrics_ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    # WORKER_ROLE of the `worker` process (`split_workers` makes it `drops`).
    worker_role: str = "all"
    # A fresh receipt signing key per stack: nothing may depend on the dev default.
    receipt_key: str = field(default_factory=lambda: secrets.token_hex(32))
    auth: InternalAuth = field(init=False)
    # The test beacon: 1 s rounds, so a draw waits at most about a second for its round.
    beacon_port: int = field(default_factory=devstack.free_port)
    beacon_chain: Chain = field(
        default_factory=lambda: devbeacon.dev_chain(int(time.time()) - 1, 1)
    )

    def __post_init__(self) -> None:
        # Every test runs with the internal surfaces locked: NATS needs these credentials and
        # the worker answers only calls signed by this stack's restate-server.
        self.auth = InternalAuth.create(self.root / "auth")

    async def connect_bus(self, name: str) -> Bus:
        return await nats_bus.connect(
            self.nats_url, name, user=self.auth.nats_user, password=self.auth.nats_password
        )

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def beacon_url(self) -> str:
        return f"http://127.0.0.1:{self.beacon_port}"

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"

    def metrics_url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[app]}"

    def env_for(self, name: str) -> dict[str, str]:
        """The app environment for process `name`, with a metrics port of its own."""
        metrics_port = self.metrics_ports.setdefault(name, devstack.free_port())
        return {**self.app_env(), "METRICS_PORT": str(metrics_port)}

    def app_env(self) -> dict[str, str]:
        return {
            "NATS_URL": self.nats_url,
            "RESTATE_INGRESS_URL": self.ingress_url,
            "RESTATE_ADMIN_URL": self.admin_url,
            "DROP_ENV": "test",
            "ADMIN_SECRET": "test-admin-secret",
            "PURCHASE_TOKEN_SECRET": "test-purchase-secret",
            "IP_HASH_SALT": "test-salt",
            "RECEIPT_SIGNING_KEY": self.receipt_key,
            "LOG_LEVEL": "INFO",
            # Whole drops run in seconds in tests; guards are tested with their own API.
            "MIN_PURCHASE_WINDOW": "1",
            "QUEUE_ENABLED": "false",
            "SKIP_RATE_LIMIT": "true",
            "BOT_CHECK_ENABLED": "false",
            # Webhook receivers in tests listen on 127.0.0.1.
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            **self.auth.app_env(),
            **devbeacon.settings_env(self.beacon_chain, self.beacon_url, 3, 0.25),
            **{k: f"http://127.0.0.1:{p}" for k, p in self._internal_urls().items()},
            **self.extra_env,
        }

    def _internal_urls(self) -> dict[str, int]:
        urls = {}
        if "api" in self.ports:
            urls["INTERNAL_API_URL"] = self.ports["api"]
            urls["INTERNAL_API_METRICS_URL"] = self.metrics_ports["api"]
        if "sse" in self.ports:
            urls["INTERNAL_SSE_URL"] = self.ports["sse"]
        return urls

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start_servers(self) -> None:
        self.procs["nats"] = devstack.nats_proc(
            self.nats_port, self.nats_monitor, self.root / "nats", self.log("nats"), self.auth
        ).start()
        self.procs["restate"] = devstack.restate_proc(
            self.ingress_port,
            self.admin_port,
            self.node_port,
            self.root / "restate",
            self.log("restate"),
            self.auth,
            otlp_endpoint=self.extra_env.get(devstack.TRACING_ENV),
        ).start()
        self.procs["beacon"] = devstack.beacon_proc(
            self.beacon_port, self.beacon_chain, self.log("beacon")
        ).start()
        devstack.wait_nats(self.nats_monitor)
        devstack.wait_restate(self.ingress_port, self.admin_port)
        devstack.wait_beacon(self.beacon_port)

    @property
    def maildir(self) -> Path:
        return self.root / "mail"

    def start_smtp(self, refuse_first: int = 0, greylist: str = "") -> None:
        """The local SMTP server (kept in `maildir`), and mail on for apps started after:
        links in mail point at this stack's web, wherever it will listen."""
        port = devstack.free_port()
        self.procs["smtp"] = devstack.smtp_proc(
            port, self.maildir, self.log("smtp"), refuse_first, greylist
        ).start()
        devstack.wait_smtp(port)
        web = self.ports.setdefault("web", devstack.free_port())
        self.extra_env.update({**devstack.smtp_env(port), "PUBLIC_URL": f"http://127.0.0.1:{web}"})

    def start_worker_build(self, version: str) -> str:
        """One more worker process serving build `version` (not registered): its URL."""
        port = devstack.free_port()
        name = f"worker-{version}"
        env = {**self.env_for(name), "WORKER_VERSION": version}
        self.procs[name] = reseeded(devstack.app_proc("worker", port, env, self.log(name))).start()
        url = f"http://127.0.0.1:{port}"
        devstack.wait_http(f"{url}/health", f"worker {version}")
        return url

    def split_workers(self) -> str:
        """Serve the drop's handlers (WORKER_ROLE=drops, as `worker`) and mail and webhooks
        (`worker-notifications`) from two processes, each its own deployment, as production
        runs them: the notifications worker's URL."""
        self.worker_role = "drops"
        self.start_app("worker")
        name = "worker-notifications"
        port = self.ports.setdefault(name, devstack.free_port())
        proc = devstack.worker_proc("notifications", port, self.env_for(name), self.log(name))
        self.procs[name] = reseeded(proc).start()
        devstack.wait_http(f"{self.url(name)}/health", name)
        devstack.register_worker(self.admin_port, self.url(name))
        return self.url(name)

    def start_app(self, name: str) -> str:
        if name == "web":
            # The web reads its upstreams' addresses at start-up: they start first, whichever
            # test happens to ask for the web first.
            self.start_app("api")
            self.start_app("sse")
        if name not in self.procs:
            port = self.ports.setdefault(name, devstack.free_port())
            if name == "worker":
                proc = devstack.worker_proc(
                    self.worker_role, port, self.env_for(name), self.log(name)
                )
            else:
                proc = devstack.app_proc(name, port, self.env_for(name), self.log(name))
            self.procs[name] = (reseeded(proc) if name == "worker" else proc).start()
            devstack.wait_http(f"{self.url(name)}/health", name)
            if name in ("api", "sse"):
                devstack.wait_until(
                    lambda: nats_ready(f"{self.url(name)}/health"), 30, f"{name} on NATS"
                )
            if name == "worker":
                devstack.register_worker(self.admin_port, self.url("worker"))
        return self.url(name)

    def restart(self, name: str, *, kill: bool = False) -> None:
        proc = self.procs[name]
        if kill:
            proc.kill()
        if name.startswith("worker"):
            reseeded(proc)
        proc.restart()
        if name == "nats":
            devstack.wait_nats(self.nats_monitor)
        elif name == "beacon":
            devstack.wait_beacon(self.beacon_port)
        elif name == "restate":
            devstack.wait_restate(self.ingress_port, self.admin_port)
        else:
            devstack.wait_http(f"{self.url(name)}/health", name)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.procs[name].stop()


def start_api(stack: Stack, name: str, env: dict[str, str]) -> tuple[str, Proc]:
    """An extra api process on the stack with `env` over its settings (e.g. guards on)."""
    return start_extra(stack, "api", name, env)


def start_extra(stack: Stack, app: str, name: str, env: dict[str, str]) -> tuple[str, Proc]:
    """One more `app` process (api, sse or web) called `name`, with `env` over its settings."""
    port = devstack.free_port()
    full_env = {**stack.env_for(name), **env}
    proc = devstack.app_proc(app, port, full_env, stack.log(name)).start()
    url = f"http://127.0.0.1:{port}"
    devstack.wait_http(f"{url}/health", name)
    if app in ("api", "sse"):
        devstack.wait_until(lambda: nats_ready(f"{url}/health"), 30, f"{name} on NATS")
    return url, proc
