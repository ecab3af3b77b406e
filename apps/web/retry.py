"""One more try for an idempotent request that met a connection the server had just closed.

A pooled keep-alive connection can be closed by the server in the instant it is reused; the
request then fails before any of it was handled, and before anything went to the browser.
"""

from __future__ import annotations

import httpx

IDEMPOTENT = frozenset({"GET", "HEAD"})
# Shorter than the servers' keep-alive (uvicorn: 5 s), so the client, not the server,
# nearly always ends an idle connection.
KEEPALIVE_EXPIRY = 2.0
# What a reused connection the server closed looks like: no answer, or a reset.
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool
) -> httpx.Response:
    try:
        return await client.send(request, stream=stream)
    except STALE_CONNECTION:
        if request.method not in IDEMPOTENT:
            raise
        return await client.send(request, stream=stream)
