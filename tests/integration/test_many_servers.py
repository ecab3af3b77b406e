"""Apps given several servers of a cluster: NATS and Restate ingress clients move past one
that is gone or one that stops answering, and a call resent to another node keeps its
idempotency key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import nats.errors
import pytest

from devtools import devstack
from drop.adapters import nats_bus
from drop.adapters.failover import LeavePolicy
from drop.adapters.restate_ingress import DurableCallError, RestateIngress
from drop.durable import DIAG_ECHO, DIAG_PING
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@asynccontextmanager
async def hangs_up() -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP server that reads each request and closes the connection without answering,
    like a node killed mid-call; yields its URL and the requests it read."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def stalls() -> AsyncIterator[str]:
    """An HTTP server that takes each request and never answers, like a node that is alive
    but too slow; yields its URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@dataclass
class Relay:
    """A TCP relay in front of a server; while `stalled`, what the server sends back is held
    (the connection stays open and the client's pings go unanswered, like a paused node)."""

    upstream_port: int
    stalled: bool = False
    port: int = 0
    pipes: set[asyncio.Task[None]] = field(default_factory=set)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, back: bool) -> None:
        while data := await src.read(65536):
            if not (back and self.stalled):
                dst.write(data)
        dst.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for pipe in (self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True)):
            task = asyncio.create_task(pipe)
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Relay]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in list(self.pipes):
                task.cancel()


async def test_ingress_moves_past_a_node_whose_calls_time_out(stack: Stack) -> None:
    async with stalls() as slow:
        ingress = RestateIngress.create(f"{slow},{stack.ingress_url}", 0.5)
        ingress.current = 0
        try:
            for _ in range(LeavePolicy().strikes):
                with pytest.raises(DurableCallError) as caught:
                    await ingress.call(DIAG_PING, None)
                assert caught.value.status == 504
            assert ingress.current == 1
            assert await ingress.call(DIAG_PING, None) == "pong"
        finally:
            await ingress.close()


async def test_nats_clients_leave_a_server_that_stops_answering(stack: Stack) -> None:
    async with Relay(stack.nats_port).running() as one, Relay(stack.nats_port).running() as two:
        relays = {f"127.0.0.1:{r.port}": r for r in (one, two)}
        bus = await nats_bus.connect(
            ",".join(f"nats://{name}" for name in relays),
            "slow-link",
            user=stack.auth.nats_user,
            password=stack.auth.nats_password,
            # Left after 0.5 s without an answer, as soon as it is made; the client's
            # pings (every 2 s) would notice nothing that fast.
            policy=LeavePolicy(slow_s=0.5, settle_s=0.0),
        )
        try:
            first = bus.nc.server
            relays[first].stalled = True
            began = time.monotonic()
            stuck = await asyncio.gather(
                *(bus.nc.request("$JS.API.INFO", b"", timeout=10) for _ in range(3)),
                return_exceptions=True,
            )
            # Every request waiting on the link gave up when it was left, not at its timeout.
            assert all(isinstance(e, nats.errors.TimeoutError) for e in stuck), stuck
            assert time.monotonic() - began < 5
            assert bus.nc.left_slow == 1
            info = await bus.nc.request("$JS.API.INFO", b"", timeout=5)
            assert b"memory" in info.data
            assert bus.nc.server not in ("", first)
        finally:
            await bus.close()


async def test_ingress_moves_past_a_node_that_refuses_connections(stack: Stack) -> None:
    gone = f"http://127.0.0.1:{devstack.free_port()}"
    ingress = RestateIngress.create(f"{gone},{stack.ingress_url}", 10.0)
    ingress.current = 0
    try:
        assert await ingress.call(DIAG_PING, None) == "pong"
        assert ingress.current == 1  # later calls go straight to the live node
        assert await ingress.healthy()
    finally:
        await ingress.close()


async def test_ingress_with_no_live_node_answers_unavailable() -> None:
    urls = ",".join(f"http://127.0.0.1:{devstack.free_port()}" for _ in range(2))
    ingress = RestateIngress.create(urls, 5.0)
    try:
        with pytest.raises(DurableCallError) as caught:
            await ingress.call(DIAG_PING, None)
        assert caught.value.status == 503
        assert not await ingress.healthy()
    finally:
        await ingress.close()


async def test_a_call_cut_off_mid_request_is_resent_with_its_idempotency_key(
    stack: Stack,
) -> None:
    async with hangs_up() as (dead, seen):
        ingress = RestateIngress.create(f"{dead},{stack.ingress_url}", 10.0)
        ingress.current = 0
        try:
            first = await ingress.call(DIAG_ECHO, "failover", idempotency_key="fo-key-1")
        finally:
            await ingress.close()
    assert len(seen) == 1 and b"idempotency-key: fo-key-1" in seen[0].lower()
    # Restate ran it once under that key: asking again returns the same invocation.
    direct = RestateIngress.create(stack.ingress_url, 10.0)
    try:
        again = await direct.call(DIAG_ECHO, "failover", idempotency_key="fo-key-1")
    finally:
        await direct.close()
    assert again == first


async def test_a_call_without_a_key_is_not_resent_once_it_may_have_arrived(
    stack: Stack,
) -> None:
    async with hangs_up() as (dead, seen):
        ingress = RestateIngress.create(f"{dead},{stack.ingress_url}", 10.0)
        ingress.current = 0
        try:
            with pytest.raises(DurableCallError) as caught:
                await ingress.call(DIAG_ECHO, "once")
        finally:
            await ingress.close()
    assert caught.value.status == 503
    assert len(seen) == 1


async def test_nats_clients_take_a_list_of_servers(stack: Stack) -> None:
    gone_port = devstack.free_port()
    gone = f"nats://127.0.0.1:{gone_port}"
    bus = await nats_bus.connect(
        f"{gone}, {stack.nats_url}",
        "many-servers",
        user=stack.auth.nats_user,
        password=stack.auth.nats_password,
    )
    try:
        assert bus.nc.connected_url is not None
        assert bus.nc.connected_url.port == stack.nats_port
        assert {s.port for s in bus.nc.servers} >= {gone_port, stack.nats_port}
        info = await bus.js.stream_info("DROPS")
        assert info.config.num_replicas == 1
    finally:
        await bus.close()
