"""HTTP/1.1 over a plain socket, for requests a client library would correct or refuse
(dot segments, control characters, slow or huge headers)."""

from __future__ import annotations

import asyncio

import httpx


async def connect(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = httpx.URL(base)
    return await asyncio.open_connection(url.host, url.port)


async def answer(reader: asyncio.StreamReader, timeout: float = 10) -> tuple[int, bytes]:
    """The status and the whole answer of a request sent with `Connection: close`."""
    data = await asyncio.wait_for(reader.read(), timeout)
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data


async def get(base: str, target: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET `target` exactly as written (no normalising), on a new connection."""
    reader, writer = await connect(base)
    try:
        head = f"GET {target} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()
        return await answer(reader, timeout)
    finally:
        writer.close()
