"""A whole cluster on this machine: used by `make cluster` and the cluster tests.

Three nats-server nodes form one JetStream cluster (routes between them; every stream and
bucket at R3), three restate-server nodes one Restate cluster (replicated metadata and
log, replication 2, provisioned by the first node), and the apps run as one worker (registered
once), two api and two sse replicas, HAProxy in front of the replicas and the web in front
of HAProxy. With a `Bridge`, every engine node runs in its own network namespace, so a
test can cut it off or slow its link; without one, everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from devtools import devbeacon, devstack, haproxy
from devtools.devstack import InternalAuth, Proc, StackError
from devtools.netns import Bridge
from drop.domain.beacon import Chain

NODES = 3
REPLICAS = 2
# Restate keeps each partition's log and state on this many nodes: one node may fail.
RESTATE_REPLICATION = 2
# Fewer partitions than the default 24: each is a replicated state machine, and two shared
# cores cannot run 24 x 2 of them without starving the apps.
RESTATE_PARTITIONS = 6
NATS_REPLICAS = 3
# `make cluster`'s test beacon takes the port `make dev`'s does.
DEV_BEACON_PORT = 8091


@dataclass
class EngineNode:
    """One nats-server or restate-server node: where it listens."""

    name: str
    host: str
    ports: dict[str, int]

    def url(self, port: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.ports[port]}"


@dataclass(frozen=True)
class AppPorts:
    """Ports of the apps and the balancer (all on 127.0.0.1, except the worker's host)."""

    worker: int
    api: tuple[int, ...]
    sse: tuple[int, ...]
    api_lb: int
    sse_lb: int
    web: int

    @classmethod
    def free(cls) -> AppPorts:
        f = devstack.free_port
        return cls(
            f(),
            tuple(f() for _ in range(REPLICAS)),
            tuple(f() for _ in range(REPLICAS)),
            f(),
            f(),
            f(),
        )

    @classmethod
    def fixed(cls) -> AppPorts:
        """`make cluster`: the balancers take the ports `make dev` gives the api and sse."""
        return cls(9080, (3013, 3023), (3014, 3024), 3003, 3004, 3000)


def _engine_ports(
    fixed: bool, index: int, names: tuple[str, ...], bases: tuple[int, ...]
) -> dict[str, int]:
    if fixed:
        return {name: base + index for name, base in zip(names, bases, strict=True)}
    return {name: devstack.free_port() for name in names}


@dataclass
class Cluster:
    """The cluster's processes in `root`; `env` adds settings every app gets."""

    root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    bridge: Bridge | None = None
    fixed_ports: bool = False
    tag: str = "drop"
    auth: InternalAuth = field(init=False)
    apps: AppPorts = field(init=False)
    nats: list[EngineNode] = field(default_factory=list)
    restate: list[EngineNode] = field(default_factory=list)
    procs: dict[str, Proc] = field(default_factory=dict)
    # The local test beacon (devtools.devbeacon), unless `env` names a chain in BEACON_URLS.
    beacon_period: int = 1
    beacon_chain: Chain = field(init=False)
    beacon_port: int = field(init=False)

    def __post_init__(self) -> None:
        self.auth = InternalAuth.create(self.root / "auth")
        self.apps = AppPorts.fixed() if self.fixed_ports else AppPorts.free()
        self.beacon_chain = devbeacon.dev_chain(int(time.time()) - 1, self.beacon_period)
        self.beacon_port = DEV_BEACON_PORT if self.fixed_ports else devstack.free_port()

    # --- addresses ---------------------------------------------------------------------

    @property
    def app_host(self) -> str:
        """Where the worker listens: the engines reach it there (the bridge, or loopback)."""
        return self.bridge.host_address if self.bridge is not None else "127.0.0.1"

    @property
    def nats_url(self) -> str:
        return ",".join(n.url("client", "nats") for n in self.nats)

    @property
    def ingress_url(self) -> str:
        return ",".join(n.url("ingress") for n in self.restate)

    @property
    def admin_url(self) -> str:
        return self.restate[0].url("admin")

    @property
    def worker_url(self) -> str:
        return f"http://{self.app_host}:{self.apps.worker}"

    def url(self, app: str) -> str:
        """`api`/`sse` are the balancers; `api1`, `sse2`, ... single replicas; `web`."""
        ports = {
            "api": self.apps.api_lb,
            "sse": self.apps.sse_lb,
            "web": self.apps.web,
            **{f"api{i}": p for i, p in enumerate(self.apps.api, start=1)},
            **{f"sse{i}": p for i, p in enumerate(self.apps.sse, start=1)},
        }
        return f"http://127.0.0.1:{ports[app]}"

    def app_env(self) -> dict[str, str]:
        return {
            "NATS_URL": self.nats_url,
            "NATS_REPLICAS": str(NATS_REPLICAS),
            "RESTATE_INGRESS_URL": self.ingress_url,
            "RESTATE_ADMIN_URL": self.admin_url,
            "INTERNAL_API_URL": self.url("api"),
            "INTERNAL_SSE_URL": self.url("sse"),
            **self.auth.app_env(),
            **self.beacon_env(),
            **self.env,
        }

    @property
    def own_beacon(self) -> bool:
        return "BEACON_URLS" not in self.env

    def beacon_env(self) -> dict[str, str]:
        if not self.own_beacon:
            return {}
        url = f"http://127.0.0.1:{self.beacon_port}"
        return devbeacon.settings_env(self.beacon_chain, url, max_wait_s=30, retry_s=0.5)

    def start_beacon(self, timeout: float = 60.0) -> None:
        if not self.own_beacon:
            return
        self.procs["beacon"] = devstack.beacon_proc(
            self.beacon_port, self.beacon_chain, self.log("beacon")
        ).start()
        devstack.wait_beacon(self.beacon_port, timeout)

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    # --- engines -------------------------------------------------------------------------

    def _host(self, member: str) -> str:
        return self.bridge.add(member) if self.bridge is not None else "127.0.0.1"

    def _in_place(self, member: str, proc: Proc) -> Proc:
        if self.bridge is not None:
            proc.args[:0] = self.bridge.exec_prefix(member)
        return proc

    def plan_engines(self) -> None:
        if self.bridge is not None:
            self.bridge.create()
        for i in range(NODES):
            self.nats.append(
                EngineNode(
                    f"nats{i + 1}",
                    self._host(f"nats{i + 1}"),
                    _engine_ports(
                        self.fixed_ports, i, ("client", "monitor", "route"), (4222, 8222, 6222)
                    ),
                )
            )
        for i in range(NODES):
            self.restate.append(
                EngineNode(
                    f"restate{i + 1}",
                    self._host(f"restate{i + 1}"),
                    _engine_ports(
                        self.fixed_ports, i, ("ingress", "admin", "node"), (8080, 9070, 5122)
                    ),
                )
            )

    def _nats_proc(self, node: EngineNode) -> Proc:
        routes = ", ".join(
            json.dumps(f"nats-route://{n.host}:{n.ports['route']}") for n in self.nats
        )
        listen = json.dumps(f"{node.host}:{node.ports['route']}")
        cluster = (
            f"server_name: {node.name}\n"
            f"cluster {{ name: {self.tag}-nats, listen: {listen}, routes: [{routes}] }}\n"
        )
        proc = devstack.nats_proc(
            node.ports["client"],
            node.ports["monitor"],
            self.root / node.name,
            self.log(node.name),
            self.auth,
            host=node.host,
            extra_config=cluster,
        )
        proc.name = node.name
        return self._in_place(node.name, proc)

    def _restate_proc(self, node: EngineNode, first: bool) -> Proc:
        metadata = ", ".join(json.dumps(n.url("node")) for n in self.restate)
        config = self.root / f"{node.name}.toml"
        config.write_text(
            f'node-name = "{node.name}"\n'
            f'cluster-name = "{self.tag}-restate"\n'
            # Exactly one node may provision the cluster; the others join it.
            f"auto-provision = {'true' if first else 'false'}\n"
            f"default-replication = {RESTATE_REPLICATION}\n"
            f"default-num-partitions = {RESTATE_PARTITIONS}\n"
            "[metadata-client]\n"
            f"addresses = [{metadata}]\n"
        )
        proc = devstack.restate_proc(
            node.ports["ingress"],
            node.ports["admin"],
            node.ports["node"],
            self.root / node.name,
            self.log(node.name),
            self.auth,
            host=node.host,
            config_file=config,
        )
        proc.name = node.name
        return self._in_place(node.name, proc)

    def start_engines(self, timeout: float = 240.0) -> None:
        self.plan_engines()
        for i, node in enumerate(self.restate):
            self.procs[node.name] = self._restate_proc(node, first=i == 0).start()
        for node in self.nats:
            self.procs[node.name] = self._nats_proc(node).start()
        for node in self.nats:
            self.wait_nats(node, timeout)
        for node in self.restate:
            devstack.wait_restate(
                node.ports["ingress"], node.ports["admin"], timeout, host=node.host
            )

    def wait_nats(self, node: EngineNode, timeout: float = 120.0) -> None:
        """Until the node is healthy and knows the JetStream meta leader."""

        def ready() -> bool:
            try:
                jsz = httpx.get(f"{node.url('monitor')}/jsz", timeout=2).json()
                health = httpx.get(f"{node.url('monitor')}/healthz", timeout=2)
            except (httpx.HTTPError, ValueError):
                return False
            return health.is_success and bool(jsz.get("meta_cluster", {}).get("leader"))

        devstack.wait_until(ready, timeout, f"{node.name} in the JetStream cluster", 0.2)

    def wait_restate_serving(self, timeout: float = 240.0) -> None:
        """Until every ingress node runs a handler (every partition has a leader)."""
        for node in self.restate:

            def serves(node: EngineNode = node) -> bool:
                try:
                    r = httpx.post(f"{node.url('ingress')}/Diagnostics/ping", timeout=10)
                except httpx.HTTPError:
                    return False
                return r.is_success

            devstack.wait_until(serves, timeout, f"{node.name} serving calls", 0.5)

    # --- apps ----------------------------------------------------------------------------

    def _app(self, kind: str, name: str, port: int, extra: Mapping[str, str] | None = None) -> Proc:
        proc = devstack.app_proc(kind, port, {**self.app_env(), **(extra or {})}, self.log(name))
        proc.name = name
        return proc

    def start_apps(self, timeout: float = 240.0) -> None:
        """The worker (registered once, through the first node), the replicas, HAProxy, web."""
        self.procs["worker"] = self._app(
            "worker", "worker", self.apps.worker, {"HOST": self.app_host}
        ).start()
        devstack.wait_http(f"{self.worker_url}/health", "worker", timeout)
        first = self.restate[0]
        devstack.register_worker(first.ports["admin"], self.worker_url, timeout, host=first.host)
        for kind, ports in (("api", self.apps.api), ("sse", self.apps.sse)):
            for i, port in enumerate(ports, start=1):
                self.procs[f"{kind}{i}"] = self._app(kind, f"{kind}{i}", port).start()
        lb = haproxy.config(
            {"api": (self.apps.api_lb, self.apps.api), "sse": (self.apps.sse_lb, self.apps.sse)},
            stats_socket=self.haproxy_socket,
        )
        self.procs["haproxy"] = haproxy.proc(
            self.root / "haproxy.cfg", lb, self.log("haproxy")
        ).start()
        self.procs["web"] = self._app("web", "web", self.apps.web).start()
        self.wait_apps((*self.replica_names(), "web"), timeout)

    @property
    def haproxy_socket(self) -> Path:
        return self.root / "haproxy.sock"

    def wait_apps(self, names: Iterable[str], timeout: float = 120.0) -> None:
        """Until each named app answers /health with its NATS connection up, and the
        replicas among them are back in HAProxy's rotation (its checks run every 500 ms, so
        a replica can be up a moment before the balancer sends it anything)."""
        names = list(names)
        for name in names:
            devstack.wait_until(
                partial(_nats_ready, f"{self.url(name)}/health"), timeout, name, 0.2
            )
        behind = set(names) & set(self.replica_names())
        devstack.wait_until(
            lambda: behind <= haproxy.servers_up(self.haproxy_socket),
            timeout,
            f"HAProxy to check {sorted(behind)} up",
            0.1,
        )
        self.wait_restate_serving(timeout)

    def replica_names(self) -> list[str]:
        return [f"api{i}" for i in range(1, REPLICAS + 1)] + [
            f"sse{i}" for i in range(1, REPLICAS + 1)
        ]

    def start(self) -> None:
        try:
            self.start_engines()
            self.start_beacon()
            self.start_apps()
        except BaseException:
            self.stop()
            raise

    # --- faults and teardown -------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL to one process (a node or a replica)."""
        self.procs[name].kill()

    def restart(self, name: str) -> None:
        self.procs[name].restart()

    def pause(self, name: str) -> None:
        """SIGSTOP: the process keeps its connections open and answers nothing."""
        self._signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)

    def _signal(self, name: str, signum: signal.Signals) -> None:
        popen = self.procs[name].popen
        if popen is not None:
            popen.send_signal(signum)

    def nats_node_of(self, app: str) -> EngineNode:
        """The NATS node an app (`api1`, `sse2`, ...) is connected to, as its /health says."""
        server = httpx.get(f"{self.url(app)}/health", timeout=5).json().get("natsServer")
        for node in self.nats:
            if f"{node.host}:{node.ports['client']}" == server:
                return node
        raise StackError(f"{app} is connected to no NATS node of the cluster ({server!r})")

    def stop(self) -> None:
        try:
            for name in reversed(list(self.procs)):
                self.procs[name].stop()
        finally:
            if self.bridge is not None:
                self.bridge.remove()


def _nats_ready(health_url: str) -> bool:
    """Apps answer /health at once and connect to NATS behind it (the web has no NATS)."""
    try:
        body = httpx.get(health_url, timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return body.get("nats", True) in (True, "ok")


__all__ = ["Cluster", "StackError"]
