"""httpx calls that a cancelled caller cannot break the connection pool with.

httpcore 1.0.9 (the newest) keeps a pool slot for good when a request is cancelled while
the pool is busy, or while its response is being closed (encode/httpcore#1093, #658):
once `max_connections` slots are lost, every call fails with PoolTimeout against a healthy
server, until the process restarts. Callers are cancelled all the time here (a browser
leaving a console page cancels the funnel stream's reads; a visitor closing an event
stream cancels its relay), so the pool's own work runs in a task of its own that the
caller's cancellation never reaches. That task ends by itself, within the client's
timeouts. A relay reads a streamed answer with `body` and ends it with `close`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

# Tasks left running by cancelled callers, kept so the loop does not drop them midway.
_orphans: set[asyncio.Future[Any]] = set()


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool
) -> httpx.Response:
    """`client.send(request)`; if the caller is cancelled meanwhile the request still ends
    normally in the background, and a streamed answer is then closed."""
    task = asyncio.ensure_future(client.send(request, stream=stream))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _orphans.add(task)
        task.add_done_callback(_close_orphan)
        raise


async def body(response: httpx.Response) -> AsyncIterator[bytes]:
    """A streamed answer's bytes as they arrive, like `aiter_raw` but without the close it
    makes at the end in the caller's task, where a cancel could cut it short: the caller
    closes with `close`."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("body() reads the answers of an httpx.AsyncClient")
    async for chunk in stream:
        yield chunk


async def close(response: httpx.Response) -> None:
    """`response.aclose()`, finished even when the caller is cancelled while it runs."""
    task = asyncio.ensure_future(response.aclose())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        _orphans.add(task)
        task.add_done_callback(_orphans.discard)
        raise


def _close_orphan(task: asyncio.Future[httpx.Response]) -> None:
    _orphans.discard(task)
    if task.cancelled() or task.exception() is not None:
        return  # nobody waits for it: its failure was the caller's, who has gone
    closing = asyncio.ensure_future(task.result().aclose())
    _orphans.add(closing)
    closing.add_done_callback(_orphans.discard)


async def settle() -> None:
    """Wait until the requests cancelled callers left behind have ended (at shutdown)."""
    while _orphans:
        await asyncio.gather(*list(_orphans), return_exceptions=True)
