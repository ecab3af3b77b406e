"""The web app's proxy and pages against fake upstreams: streaming, headers, failures."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from apps.web.app import create_app
from apps.web.page_cache import PageCache
from devtools import devstack
from drop.settings import ConnectionSettings, SecretSettings
from tests.e2e.support import read_events, serve

TICKS = 5
TICK_GAP = 0.3


def fake_upstream() -> FastAPI:
    """Plays both the API and the SSE service."""
    app = FastAPI()

    @app.api_route("/api/echo/{rest:path}", methods=["GET", "POST", "DELETE"])
    async def echo(request: Request, rest: str) -> JSONResponse:
        response = JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "body": (await request.body()).decode(),
                "headers": dict(request.headers),
            },
            status_code=201 if request.method == "POST" else 200,
        )
        response.set_cookie("drop_session", "s1", httponly=True)
        response.set_cookie("other", "o1")
        return response

    @app.get("/api/drops/active")
    async def active() -> dict[str, Any]:
        return {"drops": [], "serverTime": int(time.time() * 1000)}

    @app.get("/events/ticks")
    async def ticks() -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            for n in range(TICKS):
                yield f'id: {n}\nevent: tick\ndata: {{"n": {n}, "sent": {time.perf_counter()}}}\n\n'
                await asyncio.sleep(TICK_GAP)

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async with serve(fake_upstream()) as url:
        yield url


@pytest.fixture
async def web(upstream: str) -> AsyncIterator[str]:
    connections = ConnectionSettings(internal_api_url=upstream, internal_sse_url=upstream)
    secrets = SecretSettings(admin_secret="proxy-test-secret", drop_env="test")
    async with serve(create_app(connections, secrets)) as url:
        yield url


async def test_events_reach_the_browser_as_they_are_sent(web: str) -> None:
    """Each event arrives while the upstream is still streaming, within milliseconds."""
    async with httpx.AsyncClient() as client, read_events(client, f"{web}/events/ticks") as r:
        headers = r.response.headers
        assert headers["x-accel-buffering"] == "no"
        assert headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in headers
        assert "content-length" not in headers
        lags = []
        for n in range(TICKS):
            event = await r.next("tick", timeout=5)
            assert event.data["n"] == n and event.id == str(n)
            lags.append(event.at - event.data["sent"])
    # Both servers share this process's clock: the lag is the proxy's whole cost. Typically
    # well under a millisecond; no event may wait for the next one (a loaded CI machine
    # can still delay one by a scheduling hiccup, hence the median for the cost itself).
    assert statistics.median(lags) < 0.02, lags
    assert max(lags) < TICK_GAP, lags


async def test_api_calls_keep_method_path_query_body_and_identity(web: str) -> None:
    async with httpx.AsyncClient(base_url=web) as client:
        r = await client.post(
            "/api/echo/a/b?x=1&y=two",
            content=b'{"hello": "world"}',
            headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer tok",
                "Cookie": "drop_session=abc",
                "X-Forwarded-For": "203.0.113.7",
                "Idempotency-Key": "k-1",
            },
        )
    assert r.status_code == 201
    echoed = r.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/api/echo/a/b"
    assert echoed["query"] == "x=1&y=two"
    assert echoed["body"] == '{"hello": "world"}'
    sent = echoed["headers"]
    assert sent["authorization"] == "Bearer tok"
    assert sent["cookie"] == "drop_session=abc"
    assert sent["idempotency-key"] == "k-1"
    # The chain goes on with the peer this web saw appended, always: the api stops at the
    # first hop it does not trust, so an entry the client wrote never stands in for it.
    assert sent["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert sent["x-forwarded-host"] == web.removeprefix("http://")
    assert sent["host"] != web.removeprefix("http://")  # the upstream's own host
    # Both cookies come back: the session one stays HttpOnly.
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("drop_session=s1") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("other=o1") for c in cookies)
    # The proxy adds no page headers to API answers.
    assert "content-security-policy" not in r.headers


async def test_one_visitors_cookies_never_reach_another(web: str) -> None:
    """The proxy's upstream client keeps no cookie jar: sessions are per browser."""
    async with httpx.AsyncClient(base_url=web) as first:
        r = await first.get("/api/echo/login")
        assert any(c.startswith("drop_session=") for c in r.headers.get_list("set-cookie"))
    async with httpx.AsyncClient(base_url=web) as second:
        r = await second.get("/api/echo/me")
    assert "cookie" not in r.json()["headers"]


async def test_client_ip_is_forwarded_when_there_is_no_chain(web: str) -> None:
    async with httpx.AsyncClient(base_url=web) as client:
        r = await client.delete("/api/echo/x")
    assert r.json()["headers"]["x-forwarded-for"] == "127.0.0.1"


async def test_a_header_that_is_not_ascii_is_passed_on_as_it_came(web: str) -> None:
    """HTTP allows obs-text bytes in a header value; the web relays them rather than failing
    to encode them (it answered a bare 500 before)."""
    async with httpx.AsyncClient(base_url=web) as client:
        r = await client.post(
            "/api/echo/x", headers={"user-agent": b"probe \xff", "x-note": b"caf\xe9"}
        )
        stream = await client.get("/events/ticks", headers={"accept": b"text/\xe9"})
    assert r.status_code == 201, r.text
    echoed = r.json()["headers"]
    assert (echoed["user-agent"], echoed["x-note"]) == ("probe \xff", "caf\xe9")
    assert stream.status_code == 200


async def test_unreachable_upstream_answers_502() -> None:
    dead = f"http://127.0.0.1:{devstack.free_port()}"
    app = create_app(ConnectionSettings(internal_api_url=dead, internal_sse_url=dead))
    async with serve(app) as web, httpx.AsyncClient(base_url=web) as client:
        api = await client.get("/api/drops/active")
        stream = await client.get("/events/drops")
        page = await client.get("/")
    assert api.status_code == 502 and api.json()["code"] == "upstream_unavailable"
    assert api.headers["retry-after"] == "5"
    assert stream.status_code == 502
    assert page.status_code == 503
    assert "Drops are unavailable" in page.text


async def test_the_console_says_it_is_unavailable_when_the_api_cannot_tell() -> None:
    """An operator whose session the API cannot check now is told to come back, not shown
    the sign-in form as if signed out; a sign-in the API cannot take is a 503 as well."""
    dead = f"http://127.0.0.1:{devstack.free_port()}"
    app = create_app(ConnectionSettings(internal_api_url=dead, internal_sse_url=dead))
    async with serve(app) as web, httpx.AsyncClient(base_url=web) as client:
        anonymous = await client.get("/admin")
        held = await client.get("/admin", headers={"cookie": f"drop_admin={'a' * 43}"})
        login = await client.post("/admin/login", data={"secret": "not-checked"})
    assert anonymous.status_code == 200 and 'name="secret"' in anonymous.text
    assert held.status_code == 503 and held.headers["retry-after"] == "5", held.text
    assert 'name="secret"' not in held.text
    assert login.status_code == 503 and login.headers["retry-after"] == "5", login.text


async def test_pages_carry_security_headers_and_static_assets_are_served(web: str) -> None:
    async with httpx.AsyncClient(base_url=web) as client:
        page = await client.get("/")
        css = await client.get("/static/css/site.css")
        js = await client.get("/static/js/drop-page.js")
        img = await client.get("/static/img/jacket.svg")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "No drops are open right now" in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert img.status_code == 200 and img.headers["content-type"].startswith("image/svg")


async def test_first_paints_share_one_api_call_per_path_briefly() -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    async def fetch(path: str) -> dict[str, Any]:
        calls.append(path)
        await gate.wait()
        if path == "/boom":
            raise RuntimeError("upstream failed")
        return {"path": path, "n": len(calls)}

    cache = PageCache(fetch, ttl=0.3)
    waiting = [asyncio.create_task(cache.get("/a")) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    answers = await asyncio.gather(*waiting)
    assert calls == ["/a"]  # twenty visitors, one call
    assert all(data == {"path": "/a", "n": 1} for data, _ in answers)
    data, age = await cache.get("/a")
    assert data["n"] == 1 and 0 <= age < 0.3
    with pytest.raises(RuntimeError):
        await cache.get("/boom")
    with pytest.raises(RuntimeError):
        await cache.get("/boom")
    assert calls.count("/boom") == 2  # failures are not kept
    await asyncio.sleep(0.35)
    data, _ = await cache.get("/a")
    assert data["n"] == 4 and calls.count("/a") == 2  # expired: fetched again
    off = PageCache(fetch, ttl=0)
    await off.get("/a")
    await off.get("/a")
    assert calls.count("/a") == 4
