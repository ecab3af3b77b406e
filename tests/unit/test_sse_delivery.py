"""How a stream's events reach its client: straight to the socket on uvicorn, through a task
and ASGI `send` elsewhere; heartbeats, overflow and the end of the response either way."""

from __future__ import annotations

import asyncio

from starlette.types import Message

from apps.sse.fanout import Listener
from apps.sse.response import PING, RAW_SEND, TRANSPORT, EventStream, SocketWriter


class FakeTransport:
    """What `SocketWriter` uses of uvicorn's transport; `pending` plays the unsent bytes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.pending = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.pending

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class FakeServer:
    """The ASGI side of one request, as uvicorn behaves: `receive` answers a disconnect once
    the client hangs up or the response is complete."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.done = asyncio.Event()
        self._changed = asyncio.Condition()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        async with self._changed:
            self._changed.notify_all()
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done.set()

    async def receive(self) -> Message:
        await self.done.wait()
        return {"type": "http.disconnect"}

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]

    async def bodies_sent(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.bodies()) >= count), 2)


def render(items: list[bytes]) -> bytes:
    return b"".join(items)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


async def opening() -> bytes:
    return b"retry: 3000\n\n"


def test_writer_frames_each_event_as_an_http_chunk_and_pings_only_when_idle() -> None:
    transport, listener = FakeTransport(), Listener[bytes](4)
    listener.push(b"early\n\n")  # before the opening is sent: buffered
    assert transport.written == []
    listener.attach(SocketWriter(transport, listener, render))
    listener.push(b"data: 1\n\n")
    assert transport.written == [chunk(b"early\n\n"), chunk(b"data: 1\n\n")]
    listener.tick()  # something was sent since the last tick: no ping
    assert len(transport.written) == 2
    listener.tick()
    assert transport.written[-1] == chunk(PING)


def test_an_event_filtered_out_for_this_client_does_not_hold_back_the_heartbeat() -> None:
    transport, listener = FakeTransport(), Listener[bytes](4)
    listener.attach(SocketWriter(transport, listener, lambda items: b""))  # all stale
    listener.push(b"stale")
    listener.tick()
    assert transport.written == [chunk(PING)]


def test_writer_cuts_off_a_client_with_more_than_its_limit_waiting() -> None:
    transport, listener = FakeTransport(), Listener[bytes](3)
    listener.on_overflow = transport.abort
    listener.attach(SocketWriter(transport, listener, render))
    transport.pending = 1  # the kernel stopped taking this client's bytes
    for n in range(3):
        listener.push(b"%d" % n)
    assert (len(transport.written), transport.aborted) == (3, False)
    listener.push(b"one too many")
    assert (listener.closed, transport.aborted) == ("overflow", True)
    assert len(transport.written) == 3
    listener.push(b"after")  # closed: nothing more is written
    assert len(transport.written) == 3


def test_a_drained_buffer_resets_the_backlog() -> None:
    transport, listener = FakeTransport(), Listener[bytes](2)
    listener.attach(SocketWriter(transport, listener, render))
    for _ in range(5):
        transport.pending = 1
        listener.push(b"x")
        transport.pending = 0
        listener.push(b"y")
    assert listener.closed is None
    assert len(transport.written) == 10


async def test_on_uvicorn_events_go_to_the_socket_and_the_server_ends_the_response() -> None:
    transport, server, listener = FakeTransport(), FakeServer(), Listener[bytes](8)
    released: list[bool] = []
    stream = EventStream(opening(), listener, render, lambda: released.append(True), 5)
    scope = {"type": "http", "method": "GET", TRANSPORT: transport, RAW_SEND: server.send}
    task = asyncio.create_task(stream(scope, server.receive, server.send))
    await server.bodies_sent(1)
    await asyncio.sleep(0)  # the stream attaches its writer right after sending the opening
    listener.push(b"data: live\n\n")
    assert transport.written == [chunk(b"data: live\n\n")]
    listener.close("shutdown")
    await asyncio.wait_for(task, 2)
    assert server.bodies() == [b"retry: 3000\n\n", b""]  # the opening, then the end
    assert released == [True]


async def test_elsewhere_a_task_sends_the_events_until_the_client_hangs_up() -> None:
    server, listener = FakeServer(), Listener[bytes](8)
    released: list[bool] = []
    stream = EventStream(opening(), listener, render, lambda: released.append(True), 5)
    task = asyncio.create_task(
        stream({"type": "http", "method": "GET"}, server.receive, server.send)
    )
    listener.push(b"data: 1\n\n")
    listener.push(b"data: 2\n\n")
    await server.bodies_sent(2)
    listener.tick()
    listener.tick()
    await server.bodies_sent(3)
    server.done.set()  # the client hangs up
    await asyncio.wait_for(task, 2)
    assert server.bodies()[:3] == [b"retry: 3000\n\n", b"data: 1\n\ndata: 2\n\n", PING]
    assert listener.closed == "disconnected"
    assert released == [True]
