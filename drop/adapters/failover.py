"""When to leave a server that answers slowly, and which server to take instead.

A server cut off by the network is found by the client's pings; a server that is slow
but alive still answers them, while every request through it waits until it times out.
So each request's outcome is judged: a strike when it timed out or took longer than
`slow_s`, and `strikes` of them in a row mean "leave". One is the default: a JetStream
call on a healthy node is answered within milliseconds, and a client with few calls (the
worker publishes once per handler step) must not wait for several timeouts in a row.
Requests sent before the current link was made say nothing about it and are ignored. A
link just joined gets `settle_s` before it can be left again: when requests are slow on
the new link too, the cause may be the cluster (a stream whose leader is on the degraded
node waits for it, whichever node the client is on), and hopping on fails the requests in
flight (15 s was tried too: winners bought more slowly, docs/cluster.md). A server left
is avoided for `avoid_s` when the next one is chosen, unless every server is avoided.

Pure logic (times are passed in): unit tests in tests/unit/test_failover.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LeavePolicy:
    strikes: int = 1
    slow_s: float = 2.0
    settle_s: float = 5.0
    avoid_s: float = 30.0


@dataclass
class LinkJudge:
    """The current link's record and the servers recently left."""

    policy: LeavePolicy = field(default_factory=LeavePolicy)
    joined_at: float = 0.0
    strikes: int = 0
    avoided: dict[str, float] = field(default_factory=dict)  # server -> avoided until

    def observe(self, started: float, now: float, timed_out: bool = False) -> bool:
        """Record one request's outcome (sent at `started`, over at `now`); True when the
        link should be left now."""
        if started < self.joined_at:
            return False
        if not timed_out and now - started <= self.policy.slow_s:
            self.strikes = 0
            return False
        self.strikes += 1
        settled = now - self.joined_at >= self.policy.settle_s
        return settled and self.strikes >= self.policy.strikes

    def leave(self, server: str, now: float) -> None:
        """The link to `server` is being given up for being slow: what was sent through it
        says nothing about the next link."""
        self.avoided[server] = now + self.policy.avoid_s
        self.joined(now)

    def joined(self, now: float) -> None:
        """A new link is up: its record starts clean."""
        self.joined_at = now
        self.strikes = 0

    def choose(self, servers: Sequence[str], current: str | None, now: float) -> str:
        """The next server: the first after `current` in the list that is not avoided;
        when all are, the one whose avoidance ends first."""
        if not servers:
            raise ValueError("no server to choose from")
        start = servers.index(current) + 1 if current in servers else 0
        ordered = [*servers[start:], *servers[:start]]
        for server in ordered:
            if self.avoided.get(server, 0.0) <= now:
                return server
        return min(ordered, key=lambda s: self.avoided[s])
