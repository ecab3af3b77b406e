"""HTTP clients whose connection pools a cancelled caller cannot break.

httpcore 1.0.9 (the newest) keeps a pool slot for good when a request is cancelled while
the pool is busy, or while its response is being closed (encode/httpcore#1093, #658):
once `max_connections` slots are lost, every call fails with PoolTimeout against a healthy
server, until the process restarts. Callers are cancelled all the time here (a browser
leaving a console page cancels the funnel stream's reads; a visitor closing an event
stream cancels its relay; a webhook attempt is given up at its deadline), so the pool's
own work runs `detached`: in a task of its own that the caller's cancellation never
reaches, and that ends by itself within the client's timeouts. `client` builds an
`httpx.AsyncClient` whose transport does this for every request and every response's
close, so its callers use httpx as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# Tasks left running by cancelled callers, kept so the loop does not drop them midway.
_orphans: set[asyncio.Future[Any]] = set()


async def detached(
    work: Coroutine[Any, Any, T], *, dispose: Callable[[T], Awaitable[object]] | None = None
) -> T:
    """`await work`, run in a task the caller's cancellation does not reach: a cancelled
    caller leaves it to finish on its own, and then `dispose`s of what it returns."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _orphans.add(task)
        task.add_done_callback(lambda done: _orphaned(done, dispose))
        raise


def client(*, limits: httpx.Limits, **options: Any) -> httpx.AsyncClient:
    """`httpx.AsyncClient(**options)` with `limits`, on a transport that detaches the pool's
    work from its callers."""
    pooled = httpx.AsyncHTTPTransport(limits=limits)
    return httpx.AsyncClient(transport=DetachedTransport(pooled), **options)


class DetachedTransport(httpx.AsyncBaseTransport):
    """Sends each request, and closes each response, `detached`; a response nobody waits
    for any more is closed when it comes."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sending = self.inner.handle_async_request(request)
        response = await detached(sending, dispose=httpx.Response.aclose)
        response.stream = _DetachedClose(response.stream)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _DetachedClose(httpx.AsyncByteStream):
    """A response body read as it comes, and closed `detached` (httpx closes it in the
    caller's task, at the end of a read or when the caller stops)."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream) -> None:
        if not isinstance(inner, httpx.AsyncByteStream):
            raise TypeError("an async transport answers with an async stream")
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        await detached(self._inner.aclose())


async def settle(timeout_s: float | None = None) -> None:
    """Wait until the calls cancelled callers left behind have ended (at shutdown: at most
    `timeout_s`, after which the client's close ends them). Waiting never cancels them."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    while _orphans:
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            return
        await asyncio.wait(set(_orphans), timeout=left)


def _orphaned(task: asyncio.Future[T], dispose: Callable[[T], Awaitable[object]] | None) -> None:
    _orphans.discard(task)
    if task.cancelled() or task.exception() is not None or dispose is None:
        return  # nobody waits for it: its failure was the caller's, who has gone
    disposing = asyncio.ensure_future(dispose(task.result()))
    _orphans.add(disposing)
    disposing.add_done_callback(_orphans.discard)
