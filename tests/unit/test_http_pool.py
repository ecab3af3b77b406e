"""A caller cancelled at any moment leaves its connection pool's slot usable.

Without drop.adapters.http_pool, httpcore keeps the slot of a request cancelled at some
moments (encode/httpcore#1093): the web's 8-slot pool ran dry that way in CI, and every
console and page read then failed for the rest of the run. A pool of one slot shows it
at once: after one lost slot the next call times out waiting for the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from drop.adapters import http_pool

# Enough event-loop turns to cover a call from its start to its end (it takes about 20).
TURNS = 60


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive: every request gets `{}` in two chunks."""
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
            await writer.drain()
            writer.write(b"1\r\n}\r\n0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def url() -> AsyncIterator[str]:
    listener = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    listener.close()


async def read(client: httpx.AsyncClient, url: str) -> None:
    await client.get(url)


async def relay(client: httpx.AsyncClient, url: str) -> None:
    async with client.stream("GET", url) as response:
        async for _ in response.aiter_raw():
            await asyncio.sleep(0)


Call = Callable[[httpx.AsyncClient, str], Awaitable[None]]


@pytest.mark.parametrize("call", [read, relay], ids=["read", "relay"])
@pytest.mark.parametrize("queued", [0, 2], ids=["idle pool", "busy pool"])
async def test_a_cancelled_call_leaves_its_slot_usable(url: str, call: Call, queued: int) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with http_pool.client(timeout=httpx.Timeout(5.0, pool=1.0), limits=limits) as client:
        await read(client, url)
        for turns in range(TURNS):
            ahead = [asyncio.ensure_future(call(client, url)) for _ in range(queued)]
            cancelled = asyncio.ensure_future(call(client, url))
            for _ in range(turns):
                await asyncio.sleep(0)
            cancelled.cancel()
            await asyncio.gather(cancelled, *ahead, return_exceptions=True)
            await http_pool.settle()
            try:
                await read(client, url)
            except httpx.PoolTimeout:
                pytest.fail(f"cancelled after {turns} loop turns, the call kept its slot")
