"""Request bodies are capped before they are read whole: api and admin 64 KB, proxy 1 MB."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

import httpx
import pytest

from drop.asgi_limits import API_MAX_BODY, PROXY_MAX_BODY
from tests.support.api_client import ADMIN, DropApi, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CHUNK = b"x" * 16_384


@pytest.fixture(scope="module")
def web(stack: Stack, api: DropApi) -> str:
    stack.start_app("sse")
    return stack.start_app("web")


def assert_413(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["code"] == "body_too_large"
    assert str(limit) in body["error"]


async def chunked_upload(base: str, path: str, give_up_after: int) -> tuple[bytes, int]:
    """Send a chunked body without end until the server answers; the answer's first bytes
    and how much was sent by then (the body may be lost: the server then closes at once)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    sent = 0
    with contextlib.suppress(ConnectionError):
        while not answer.done() and sent < give_up_after:
            writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            await writer.drain()
            sent += len(CHUNK)
            await asyncio.sleep(0)  # let the reader see an early answer
        if not answer.done():  # the whole body went out: end it and wait for the answer
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    try:
        head = await asyncio.wait_for(answer, 10)
    except ConnectionError:
        head = b""  # the server closed the connection on an unread body (granian does)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return head, sent


async def test_api_refuses_a_declared_large_body_with_413(api: DropApi) -> None:
    big = json.dumps({"dropId": uid("big"), "productDescription": "x" * API_MAX_BODY})
    r = await api.client.post("/api/drops", content=big, headers=ADMIN)
    assert_413(r, API_MAX_BODY)
    small = await api.client.post("/api/drops", json={"dropId": "x"}, headers=ADMIN)
    assert small.status_code == 400  # an ordinary body still reaches validation


async def test_api_stops_reading_a_chunked_body_past_the_cap(stack: Stack, api: DropApi) -> None:
    limit_total = 50 * 1024 * 1024
    head, sent = await chunked_upload(stack.url("api"), "/api/drops", limit_total)
    # The server stopped reading long before the client ran out of body to send: it
    # answered 413, or (granian, on a body it will not read) closed the connection.
    assert sent < limit_total // 4, sent
    assert head == b"" or head.startswith(b"HTTP/1.1 413"), head[:200]
    # A chunked body a little over the cap, sent whole, gets the 413 with its reason.
    head, _ = await chunked_upload(stack.url("api"), "/api/drops", API_MAX_BODY + len(CHUNK))
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"content-type: application/json" in head


async def test_web_proxy_caps_at_1_mb_and_admin_forms_at_64_kb(web: str) -> None:
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        over_proxy = await client.post("/api/drops", content=b"x" * (PROXY_MAX_BODY + 1))
        assert_413(over_proxy, PROXY_MAX_BODY)
        # Under the proxy's cap the body reaches the API, which has its own smaller cap.
        relayed = await client.post("/api/drops", content=b"x" * (API_MAX_BODY + 1))
        assert_413(relayed, API_MAX_BODY)
        login = await client.post(
            "/admin/login",
            content=b"secret=" + b"x" * API_MAX_BODY,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_413(login, API_MAX_BODY)
        wrong = await client.post("/admin/login", data={"secret": "nope"})
        assert wrong.status_code == 401  # a normal form still works
    head, sent = await chunked_upload(web, "/api/drops", 50 * 1024 * 1024)
    assert head.startswith(b"HTTP/1.1 413") and sent < 12 * 1024 * 1024, (head[:100], sent)
