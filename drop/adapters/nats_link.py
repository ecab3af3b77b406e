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
from dataclasses import dataclass
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
        # The requests waiting on the current link, given up when it is left.
        self._watched: set[_Watch] = set()
        self._judging: set[asyncio.Future[None]] = set()

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
        # The request runs in the caller's task (no task or `asyncio.wait` of its own: they
        # were a tenth of the api's CPU under a crowd). A request still unanswered after
        # `slow_s` is judged then, not at its timeout (a timer), and when that makes the
        # client leave the link, every request waiting on it gives up at once with a
        # timeout (its answer would come back on the old connection): its task is cancelled
        # and the cancellation turned into the timeout, as `asyncio.timeout` does.
        task = asyncio.current_task()
        assert task is not None
        watch = _Watch(time.monotonic(), task)
        timer = asyncio.get_running_loop().call_later(
            self.judge.policy.slow_s, self._overdue, watch
        )
        self._watched.add(watch)
        try:
            msg = await super().request(subject, payload, timeout, old_style, headers)
        except asyncio.CancelledError:
            if watch.abandoned and task.uncancel() == 0:
                raise nats.errors.TimeoutError from None
            raise
        except nats.errors.TimeoutError:
            if not watch.judged:
                await self._judge(watch.started, timed_out=True)
            raise
        finally:
            timer.cancel()
            self._watched.discard(watch)
        if not watch.judged:
            await self._judge(watch.started, timed_out=False)
        return msg

    async def _request_new_style(
        self,
        subject: str,
        payload: bytes,
        timeout: float = 1,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        # nats-py's own (2.16), less two costs a request on Python 3.11: `asyncio.wait_for`
        # (a second future, callbacks and a task switch; 3% of the api's CPU under a crowd)
        # and two random bytes from the OS added to the reply's token (the NUID alone is
        # unique within this client; nats-py finds the answer by the token after it).
        if self.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError
        if not self._resp_sub_prefix:
            await self._init_request_sub()
        assert self._resp_sub_prefix
        token = self._nuid.next().decode()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Msg] = loop.create_future()
        self._resp_map[token] = answer
        expiry = loop.call_later(timeout, _expire, answer)
        try:
            inbox = self._resp_sub_prefix.decode() + token
            await self.publish(subject, payload, reply=inbox, headers=headers)
            return await answer
        finally:
            expiry.cancel()
            self._resp_map.pop(token, None)

    def _overdue(self, watch: _Watch) -> None:
        watch.judged = True
        judging = asyncio.ensure_future(self._judge(watch.started, timed_out=True))
        self._judging.add(judging)
        judging.add_done_callback(self._judging.discard)

    async def _judge(self, started: float, timed_out: bool) -> None:
        now = time.monotonic()
        if not self.judge.observe(started, now, timed_out):
            return
        # With one server there is nowhere better to go: a reconnect would only cost.
        if len(self.servers) > 1 and self.is_connected:
            server = self.server
            log.warning("nats server %s answers too slowly; moving to another", server)
            self.judge.leave(server, now)
            self.left_slow += 1
            abandoned, self._watched = self._watched, set()
            for watch in abandoned:
                watch.abandoned = True
                watch.task.cancel()
            await self.force_reconnect()


def _expire(answer: asyncio.Future[Msg]) -> None:
    if not answer.done():
        answer.set_exception(nats.errors.TimeoutError())


@dataclass(eq=False, slots=True)
class _Watch:
    """One request in flight: when it was sent, the task waiting for it, how it ended."""

    started: float
    task: asyncio.Task[Any]
    judged: bool = False
    abandoned: bool = False
