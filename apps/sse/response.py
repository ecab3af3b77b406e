"""A lean `text/event-stream` response: no task of its own per client on uvicorn.

sse-starlette's `EventSourceResponse` runs four tasks per client (stream, ping, shutdown and
disconnect watchers); at ten thousand clients that alone is most of the memory budget. Here
heartbeats come from one process-wide clock (`Listener.tick`) and shutdown from
sse-starlette's `AppStatus` flag, checked by that same clock.

On uvicorn each event is written to the client's socket the moment it is pushed
(`SocketWriter`), in the same chunked framing uvicorn's `send` uses: no task wakes, no
future or ASGI message is made per delivery. Waking a task per client and event, with its
request coroutine under some twenty frames of server, middleware and routing, and the
garbage collector scanning every stream's objects as each delivery's waiter outlived it,
cost most of a delivery at 10,000 streams (docs/benchmarks.md). The request's coroutine only
waits for the client to hang up. Elsewhere (no transport known) a task per client sends
what the listener buffers through ASGI `send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import nats.errors
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from apps.sse.fanout import Listener

log = logging.getLogger(__name__)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    "Connection": "keep-alive",
}


PING = b": ping\n\n"
RAW_SEND = "sse.send"
TRANSPORT = "sse.transport"
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
# What an opening's reads from NATS fail with when NATS is slow, gone or moving (TimeoutError
# is an OSError): the client is told to come back, not sent a 500 or nothing.
UNREADABLE = (OSError, nats.errors.Error)
# The final sends of streams ended by the server, kept until done (the loop only holds weak
# references to tasks).
_ending: set[asyncio.Task[None]] = set()


def cut_off(scope: Scope) -> None:
    """Drop a client whose buffer overflowed, as if it had hung up: its stream then ends."""
    transport = scope.get(TRANSPORT)
    if transport is not None:
        transport.abort()


class SocketWriter:
    """Hands a listener's items, rendered, straight to the client's socket as HTTP chunks.

    What the kernel does not take at once waits in the transport's buffer; a client with
    more than the listener's `limit` events waiting there has fallen behind and is cut off.
    """

    __slots__ = ("_backlog", "_listener", "_render", "_transport")

    def __init__(
        self, transport: Any, listener: Listener[Any], render: Callable[[list[Any]], bytes]
    ) -> None:
        self._transport = transport
        self._listener = listener
        self._render = render
        self._backlog = 0

    def __call__(self, items: list[Any]) -> None:
        transport = self._transport
        if transport.is_closing():
            return  # the client went away; its disconnect ends the stream
        try:
            data = self._render(items) if items else PING
        except Exception:
            log.exception("could not render an event; ending the stream")
            self._listener.close("error")
            transport.abort()
            return
        if not data:
            return  # nothing new for this client (a stale or repeated state)
        if items:
            self._listener.busy = True
        if transport.get_write_buffer_size():
            self._backlog += 1
            if self._backlog > self._listener.limit:
                self._listener.overflow()
                return
        else:
            self._backlog = 0
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))


class EventStream(Response):
    """`opening`, then whatever `listener` receives rendered by `render`, until either ends."""

    media_type = "text/event-stream"

    def __init__(
        self,
        opening: Coroutine[Any, Any, bytes],
        listener: Listener[Any],
        render: Callable[[list[Any]], bytes],
        release: Callable[[], None],
        retry_after_s: int,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = _raw_headers()  # the same for every stream: one list for all
        self._opening: Coroutine[Any, Any, bytes] | None = opening
        self._listener = listener
        self._render = render
        self._release = release
        self._retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listener = self._listener
        listener.on_overflow = lambda: cut_off(scope)
        delivery: asyncio.Task[None] | None = None
        try:
            assert self._opening is not None
            try:
                chunk = await self._opening
            except UNREADABLE as exc:
                log.warning("could not read a stream's opening from NATS: %r", exc)
                await unavailable(self._retry_after_s)(scope, receive, send)
                return
            finally:
                self._opening = None
            # A copy (not kept): a middleware adding headers must not add them for all.
            start = {"type": "http.response.start", "status": 200, "headers": [*self.raw_headers]}
            await send(start)
            del start
            # Body chunks skip the middleware's send wrappers (they only watch for the start).
            body = scope.get(RAW_SEND) or send
            await body({"type": "http.response.body", "body": chunk, "more_body": True})
            del chunk  # this client's own snapshot: not worth keeping for hours
            transport = scope.get(TRANSPORT)
            if transport is not None and scope["method"] == "GET":  # a chunked body follows
                _write_directly(listener, transport, self._render, body)
            else:
                delivery = asyncio.get_running_loop().create_task(
                    _deliver(listener, self._render, body, lambda: cut_off(scope))
                )
            # Returns when the client hangs up, or once the response has been ended.
            await _watch(receive, listener)
            if delivery is not None:
                await delivery
        except OSError:
            pass  # the client went away mid-write
        finally:
            if delivery is not None and not delivery.done():
                delivery.cancel()
            if self._opening is not None:
                self._opening.close()
            listener.close("ended")
            self._release()


def unavailable(retry_after_s: int) -> JSONResponse:
    """The answer to a stream whose reads from NATS failed before it started."""
    body = {
        "error": "The stream cannot be opened right now, try again",
        "code": "stream_unavailable",
    }
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry_after_s)})


@functools.cache
def _raw_headers() -> list[tuple[bytes, bytes]]:
    template = object.__new__(EventStream)  # no body: no content-length, so chunked
    template.init_headers(HEADERS)
    return template.raw_headers


def _write_directly(
    listener: Listener[Any], transport: Any, render: Callable[[list[Any]], bytes], body: Send
) -> None:
    def end() -> None:
        """The server ends the stream: the last chunk, through uvicorn so it knows."""
        task = asyncio.get_running_loop().create_task(_send_end(body))
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    listener.on_close = end
    listener.attach(SocketWriter(transport, listener, render))
    if listener.closed is not None:  # closed while the opening was being sent
        end()


async def _send_end(body: Send) -> None:
    with contextlib.suppress(OSError):  # the client went away meanwhile
        await body(_END)


async def _deliver(
    listener: Listener[Any],
    render: Callable[[list[Any]], bytes],
    body: Send,
    end_abruptly: Callable[[], None],
) -> None:
    """Everything the listener buffers, until it is closed; then the end of the body."""
    ended = False
    try:
        while (items := await listener.take()) is not None:
            data = render(items) if items else PING
            if data:
                await body({"type": "http.response.body", "body": data, "more_body": True})
        await body(_END)
        ended = True
    except OSError:
        pass  # the client went away mid-write
    finally:
        if not ended:
            # Whatever stopped the delivery, the request must not wait for a hang-up forever.
            listener.close("ended")
            end_abruptly()


async def _watch(receive: Receive, listener: Listener[Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            listener.close("disconnected")
            return
