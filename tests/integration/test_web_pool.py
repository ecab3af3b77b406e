"""The web app's pooled upstream connections survive a server closing one as it is reused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from apps.web.app import create_app
from apps.web.upstream import Upstreams
from drop.settings import ConnectionSettings, SecretSettings, WebSettings
from tests.e2e.support import serve

pytestmark = pytest.mark.integration


class ClosingUpstream:
    """Answers the first request on each connection and keeps it open; the next request on
    it meets the server closing the connection, as a keep-alive timeout does in a race."""

    def __init__(self) -> None:
        self.answered = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = json.dumps({"drops": [], "serverTime": int(time.time() * 1000)}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
            self.answered += 1
            await reader.readuntil(b"\r\n\r\n")
            self.dropped += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def closing_upstream() -> AsyncIterator[tuple[str, ClosingUpstream]]:
    upstream = ClosingUpstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", upstream
    finally:
        server.close()


async def test_a_get_on_a_connection_the_server_just_closed_succeeds() -> None:
    async with closing_upstream() as (url, upstream):
        app = create_app(
            ConnectionSettings(internal_api_url=url, internal_sse_url=url),
            SecretSettings(admin_secret="pool-test", drop_env="test"),
            WebSettings(web_page_cache_seconds=0),
        )
        async with serve(app) as web, httpx.AsyncClient(base_url=web) as client:
            for _ in range(3):  # proxied API reads
                r = await client.get("/api/drops/active")
                assert r.status_code == 200, r.text
            for _ in range(3):  # first paints, through the site's own pool
                page = await client.get("/")
                assert page.status_code == 200, page.text
            assert upstream.dropped >= 4  # the stale-connection path really ran
            # A POST is never sent twice: its failure on a closed connection is reported.
            posted = await client.post("/api/drops", json={})
            assert posted.status_code == 502


async def test_pools_end_idle_connections_before_the_server_does() -> None:
    server_keep_alive = uvicorn.Config(app=None).timeout_keep_alive
    upstreams = Upstreams.create("http://127.0.0.1:1", "http://127.0.0.1:1")
    try:
        for client in (upstreams.reads, upstreams.api, upstreams.events):
            pool = client._transport.inner._pool  # type: ignore[attr-defined]
            assert pool._keepalive_expiry < server_keep_alive
    finally:
        await upstreams.close()
