"""A NATS client that leaves a server which is slow, not only one that is gone.

nats-py's pings find a server that stopped answering; a server that is slow but alive (a
throttled link, an overloaded node) still answers them, and every request through it then
waits for its timeout. Every JetStream and key-value call is a `request`, so this client
watches each one, lets `failover.LinkJudge` decide when the link is bad, and then asks
nats-py to reconnect (`force_reconnect`), choosing the next server itself
(`reconnect_to_server_handler`) so the server just left is not taken again at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import nats.errors
from nats.aio.client import Client, Server
from nats.aio.msg import Msg

from drop.adapters.failover import LeavePolicy, LinkJudge

log = logging.getLogger(__name__)

# Pause before trying again a server whose last connection attempt failed.
RECONNECT_WAIT_S = 0.5


class WatchedClient(Client):
    """`nats.aio.client.Client` that judges its link by its requests' answers."""

    def __init__(self, policy: LeavePolicy | None = None) -> None:
        super().__init__()
        self.judge = LinkJudge(policy or LeavePolicy())
        self.chosen: str | None = None
        self.left_slow = 0
        # Resolved when this client gives up its current link; replaced by a fresh one.
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def server(self) -> str:
        """`host:port` of the server this client is connected to ("" between links)."""
        url = self.connected_url
        return url.netloc if url is not None else ""

    def link_up(self) -> None:
        """A link was made (first connect or reconnect): judge it from now on."""
        self.chosen = self.server or self.chosen
        self.judge.joined(time.monotonic())

    def choose_server(self, servers: list[Server], _info: dict[str, Any]) -> tuple[Server, float]:
        """nats-py's reconnect handler: the next server after the last one chosen, skipping
        those recently left for being slow; (server, seconds to wait before trying it)."""
        by_name = {s.uri.netloc: s for s in servers}
        pick = self.judge.choose(list(by_name), self.chosen, time.monotonic())
        self.chosen = pick
        server = by_name[pick]
        return server, RECONNECT_WAIT_S if server.reconnects else 0.0

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 0.5,
        old_style: bool = False,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        started = time.monotonic()
        lost = self._lost
        answer = asyncio.ensure_future(
            super().request(subject, payload, timeout, old_style, headers)
        )
        judged = False
        try:
            # A request still unanswered after `slow_s` is judged then, not at its timeout,
            # and when that makes the client leave the link, every request waiting on it
            # gives up at once (its answer would come back on the old connection).
            await _first(answer, lost, timeout=self.judge.policy.slow_s)
            if not (answer.done() or lost.done()):
                judged = True
                await self._judge(started, timed_out=True)
                await _first(answer, lost)
            if not answer.done():
                raise nats.errors.TimeoutError
        finally:
            answer.cancel()  # a no-op once it is done
        try:
            msg = answer.result()
        except nats.errors.TimeoutError:
            if not judged:
                await self._judge(started, timed_out=True)
            raise
        if not judged:
            await self._judge(started, timed_out=False)
        return msg

    async def _judge(self, started: float, timed_out: bool) -> None:
        now = time.monotonic()
        # With one server there is nowhere better to go: a reconnect would only cost.
        elsewhere = len(self.servers) > 1 and self.is_connected
        if self.judge.observe(started, now, timed_out) and elsewhere:
            server = self.server
            log.warning("nats server %s answers too slowly; moving to another", server)
            self.judge.leave(server, now)
            self.left_slow += 1
            self._lost.set_result(None)
            self._lost = asyncio.get_running_loop().create_future()
            await self.force_reconnect()


async def _first(*waiting: asyncio.Future[Any], timeout: float | None = None) -> None:
    """Until one of `waiting` is done (or `timeout` passes); none is cancelled."""
    await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
