"""Network namespaces on one bridge, so engine nodes of a local cluster are separate hosts
that can be cut off or slowed down with the kernel's own tools (needs root).

Each member gets a namespace with one veth pair whose outer end is on the bridge; the
bridge itself carries the host's address, so processes on the host reach every member and
every member reaches the host. Cutting a member takes its outer link down: it loses the
bridge, the host and the other members at once, like a machine whose switch port failed.

Traffic between members is forwarded by the bridge, and with bridge netfilter on
(`bridge-nf-call-iptables`, as Docker leaves it) it passes the host's iptables FORWARD
chain, whose policy Docker sets to DROP. So the bridge brings its own ACCEPT rules for its
own interface, inserted first and deleted again by `remove()`: the host's rules are left as
they were found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


class NetnsError(RuntimeError):
    """The namespaces could not be made (not root, no `ip`, or the firewall in the way)."""


BRIDGE_NETFILTER = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def bridge_netfilter_on() -> bool:
    """Whether bridged packets go through iptables (br_netfilter loaded and switched on)."""
    try:
        return BRIDGE_NETFILTER.read_text().strip() == "1"
    except OSError:
        return False


def available() -> bool:
    """Whether this process may create namespaces and bridges."""
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("tc") is not None


@dataclass
class Bridge:
    """A bridge and its member namespaces; names carry `tag` (this process's pid by
    default) so concurrent runs never collide, and `remove()` undoes everything."""

    tag: str = field(default_factory=lambda: str(os.getpid()))
    members: dict[str, str] = field(default_factory=dict)  # member -> its address
    created: bool = False
    # The FORWARD rules this bridge inserted (each an iptables rule spec), to delete again.
    rules: list[list[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"dbr{self.tag}"[:15]

    @property
    def subnet(self) -> str:
        # 10.x.y.0/24 from the tag: two runs on one machine get two subnets.
        n = int(self.tag) if self.tag.isdigit() else abs(hash(self.tag))
        return f"10.{200 + (n >> 8) % 50}.{n % 256}"

    @property
    def host_address(self) -> str:
        return f"{self.subnet}.1"

    def namespace(self, member: str) -> str:
        return f"drop{self.tag}-{member}"

    def _outer(self, member: str) -> str:
        return f"dv{self.tag}{member}"[:15]

    def _inner(self, member: str) -> str:
        return f"dp{self.tag}{member}"[:15]

    def create(self) -> None:
        if not available():
            raise NetnsError("network namespaces need root, `ip` and `tc`")
        self.created = True
        _ip("link", "add", self.name, "type", "bridge")
        _ip("addr", "add", f"{self.host_address}/24", "dev", self.name)
        _ip("link", "set", self.name, "up")
        self._allow_forwarding()

    def _allow_forwarding(self) -> None:
        """ACCEPT what the bridge forwards, ahead of the host's own FORWARD rules."""
        if shutil.which("iptables") is None:
            if bridge_netfilter_on():
                raise NetnsError(
                    f"bridged traffic goes through iptables ({BRIDGE_NETFILTER} is 1, as "
                    "Docker leaves it) and `iptables` is missing, so the bridge cannot add "
                    "its ACCEPT rules: install iptables (apt-get install iptables)"
                )
            return
        for direction in ("-i", "-o"):
            rule = ["FORWARD", direction, self.name, "-m", "comment"]
            rule += ["--comment", f"drop netns {self.name}", "-j", "ACCEPT"]
            done = subprocess.run(["iptables", "-I", *rule], capture_output=True, text=True)
            if done.returncode != 0:
                raise NetnsError(
                    f"could not let bridge {self.name} forward through the host's firewall "
                    f"(iptables -I {' '.join(rule)}): {done.stderr.strip()}"
                )
            self.rules.append(rule)

    def add(self, member: str) -> str:
        """A namespace for `member` on the bridge; returns its address."""
        address = f"{self.subnet}.{10 + len(self.members)}"
        ns, outer, inner = self.namespace(member), self._outer(member), self._inner(member)
        _ip("netns", "add", ns)
        self.members[member] = address
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", self.name)
        _ip("link", "set", outer, "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return address

    def exec_prefix(self, member: str) -> list[str]:
        """Arguments that run a command inside `member`'s namespace (`ip netns exec` execs
        the command itself, so its pid is the server's)."""
        return ["ip", "netns", "exec", self.namespace(member)]

    def cut(self, member: str) -> None:
        """Partition `member` from everything else."""
        _ip("link", "set", self._outer(member), "down")

    def heal(self, member: str) -> None:
        _ip("link", "set", self._outer(member), "up")

    def slow(self, member: str, kbit: int, queue_ms: int = 400) -> None:
        """Throttle what leaves `member` to `kbit`/s with a token bucket, packets waiting
        up to `queue_ms` in its queue: a slow, laggy link. (tbf rather than netem: this
        machine's kernel has no netem module.)"""
        ns, inner = self.namespace(member), self._inner(member)
        tbf = ["tbf", "rate", f"{kbit}kbit", "burst", "16kbit", "latency", f"{queue_ms}ms"]
        _ip("netns", "exec", ns, "tc", "qdisc", "replace", "dev", inner, "root", *tbf)

    def unslow(self, member: str) -> None:
        ns, inner = self.namespace(member), self._inner(member)
        subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", inner, "root"],
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        """Delete the namespaces, their links and the bridge (whatever of them exists)."""
        for member in list(self.members):
            _ip("link", "del", self._outer(member), check=False)
            _ip("netns", "del", self.namespace(member), check=False)
        self.members.clear()
        if self.created:
            _ip("link", "del", self.name, check=False)
            self.created = False
        while self.rules:
            subprocess.run(["iptables", "-D", *self.rules.pop()], check=False, capture_output=True)
