"""Slow and oversized request heads cannot starve a server (drop.server_limits)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from drop.server_limits import HEAD_TIMEOUT_S
from tests.support import raw_http
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

SLOW_CONNECTIONS = 1100
LINE_GAP_S = 2.0
ATTACKER, OTHER = "127.0.0.2", "127.0.0.3"


async def slow_head(base: str, stop: asyncio.Event) -> None:
    """A request head that never ends: one header line every LINE_GAP_S."""
    url = httpx.URL(base)
    with contextlib.suppress(OSError):
        _reader, writer = await asyncio.open_connection(
            url.host, url.port, local_addr=(ATTACKER, 0)
        )
        try:
            writer.write(b"GET /api/drops/active HTTP/1.1\r\nHost: edge.test\r\n")
            n = 0
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LINE_GAP_S)
                n += 1
                writer.write(b"X-Slow-%d: x\r\n" % n)
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def slowloris(base: str, count: int) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(slow_head(base, stop)) for _ in range(count)]
    try:
        await asyncio.sleep(LINE_GAP_S * 1.5)  # every connection open and trickling
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def timed_get(base: str, path: str) -> tuple[int, float]:
    transport = httpx.AsyncHTTPTransport(local_address=OTHER)
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        started = time.perf_counter()
        r = await client.get(f"{base}{path}")
        return r.status_code, time.perf_counter() - started


@pytest.mark.parametrize("app", ["api", "sse", "web"])
async def test_slow_heads_from_one_address_do_not_starve_others(stack: Stack, app: str) -> None:
    base = stack.start_app(app)
    async with slowloris(base, SLOW_CONNECTIONS):
        status, seconds = await timed_get(base, "/health")
    assert status == 200
    # Starved, it would wait for the slow heads to be cut (HEAD_TIMEOUT_S after they
    # opened, at least 7 s from here); a loaded machine takes up to about 3 s to serve it.
    assert seconds < HEAD_TIMEOUT_S / 3, seconds


@pytest.mark.parametrize("app", ["api", "sse", "web"])
async def test_a_huge_head_is_refused_quickly(stack: Stack, app: str) -> None:
    base = stack.start_app(app)
    reader, writer = await raw_http.connect(base)
    started = time.perf_counter()
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: edge.test\r\nX-Big: ")
        with contextlib.suppress(OSError):
            for _ in range(16 * 1024):  # 16 MB, unless the server hangs up first
                writer.write(b"a" * 1024)
                await writer.drain()
        status, _ = await raw_http.answer(reader, timeout=5)
    except (OSError, asyncio.IncompleteReadError):
        status = 0  # hung up without an answer: refused too
    finally:
        writer.close()
    assert status in (0, 431), status
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("app", ["api", "sse", "web"])
async def test_too_many_headers_are_refused(stack: Stack, app: str) -> None:
    base = stack.start_app(app)
    many = "".join(f"X-H{n}: v\r\n" for n in range(150))
    reader, writer = await raw_http.connect(base)
    writer.write(f"GET /health HTTP/1.1\r\nHost: edge.test\r\n{many}\r\n".encode())
    status, _ = await raw_http.answer(reader)
    writer.close()
    assert status == 431


@pytest.mark.parametrize("app", ["api", "sse", "web"])
async def test_a_stalled_head_is_cut_off(stack: Stack, app: str) -> None:
    base = stack.start_app(app)
    reader, writer = await raw_http.connect(base)
    started = time.perf_counter()
    writer.write(b"GET /health HTTP/1.1\r\nHost: edge.test\r\n")
    data = await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_S + 10)
    writer.close()
    # uvicorn (BoundedHead) answers 408; granian closes the connection without a word.
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:100]
    assert HEAD_TIMEOUT_S - 1 < time.perf_counter() - started < HEAD_TIMEOUT_S + 3
