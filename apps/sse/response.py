"""A lean `text/event-stream` response: one small task per client besides the server's own.

sse-starlette's `EventSourceResponse` runs four tasks per client (stream, ping, shutdown and
disconnect watchers); at ten thousand clients that alone is most of the memory budget. Here
heartbeats come from one process-wide clock (`Listener.tick`) and shutdown from
sse-starlette's `AppStatus` flag, checked by that same clock, so each client costs one
watcher task waiting for the disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from apps.sse.fanout import Listener

HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    "Connection": "keep-alive",
}


PING = b": ping\n\n"
RAW_SEND = "sse.send"


class EventStream(Response):
    """`opening`, then whatever `listener` receives rendered by `render`, until either ends."""

    media_type = "text/event-stream"

    def __init__(
        self,
        opening: Coroutine[Any, Any, bytes],
        listener: Listener[Any],
        render: Callable[[list[Any]], bytes],
        release: Callable[[], None],
        cut_off: Callable[[Scope], None],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self._opening: Coroutine[Any, Any, bytes] | None = opening
        self._listener = listener
        self._render = render
        self._release = release
        self._cut_off = cut_off

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listener, render = self._listener, self._render
        listener.on_overflow = lambda: self._cut_off(scope)
        watcher: asyncio.Task[None] | None = None
        try:
            assert self._opening is not None
            chunk = await self._opening  # fails before the response starts: a plain 500
            self._opening = None
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            watcher = asyncio.get_running_loop().create_task(_watch(receive, listener))
            # Body chunks skip the middleware's send wrappers (they only watch for the start).
            body = scope.get(RAW_SEND) or send
            await body({"type": "http.response.body", "body": chunk, "more_body": True})
            del chunk  # this client's own snapshot: not worth keeping for hours
            while (items := await listener.take()) is not None:
                data = render(items) if items else PING
                if data:
                    await body({"type": "http.response.body", "body": data, "more_body": True})
            await body({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            if watcher is not None:
                watcher.cancel()
            if self._opening is not None:
                self._opening.close()
            listener.close("ended")
            self._release()


async def _watch(receive: Receive, listener: Listener[Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            listener.close("disconnected")
            return
