"""A page on another origin, written like the original site, opens the event streams
directly in Chromium (docs/contract.md, Streams): CORS with credentials, payloads applied by
their `type`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from devtools import devstack
from tests.e2e.support import serve
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

# The original client's way: listen to the named events, but apply a payload only by its
# own `type` (and count any payload it could not apply).
PAGE = """<!doctype html><meta charset="utf-8"><title>other origin</title><script>
const params = new URLSearchParams(location.search);
window.applied = []; window.untyped = []; window.failed = false;
const source = new EventSource(params.get("stream"), { withCredentials: true });
for (const name of ["connected", "drop", "user"]) {
  source.addEventListener(name, (event) => {
    const data = JSON.parse(event.data);
    if (["connected", "drop", "user"].includes(data.type)) window.applied.push(data);
    else window.untyped.push(data);
  });
}
source.onerror = () => { if (source.readyState === EventSource.CLOSED) window.failed = true; };
</script>"""


async def page(_: object) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture(scope="module")
async def origin() -> AsyncIterator[str]:
    async with serve(Starlette(routes=[Route("/", page)])) as url:
        yield url


@pytest.fixture(scope="module")
def cors_sse(stack: Stack, origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An sse service that lists the page's origin in CORS_ORIGINS."""
    port = devstack.free_port()
    env = {**stack.app_env(), "CORS_ORIGINS": f"http://localhost:3000,{origin}"}
    log: Path = tmp_path_factory.mktemp("cors") / "sse-cors.log"
    proc = devstack.app_proc("sse", port, env, log).start()
    try:
        devstack.wait_http(f"http://127.0.0.1:{port}/health", "cors sse")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


APPLIED = "(types) => types.every((t) => window.applied.some((d) => d.type === t))"


async def test_a_page_on_an_allowed_origin_reads_the_streams(
    browser: Browser, origin: str, cors_sse: str, api: DropApi, stack: Stack
) -> None:
    drop_id, user_id = uid("origin"), uid("u")
    await api.create(drop_id, registrationEnd=now_ms() + 60_000)
    context = await browser.new_context()
    try:
        tab = await context.new_page()
        await tab.goto(f"{origin}/?stream={cors_sse}/events/{drop_id}/{user_id}")
        await tab.wait_for_function(APPLIED, arg=["connected", "user"], timeout=15_000)
        assert (await api.register(drop_id, uid("someone"), 1)).status_code == 200
        await tab.wait_for_function(
            "() => window.applied.some((d) => d.type === 'drop' && d.participantCount === 1)",
            timeout=15_000,
        )
        applied = await tab.evaluate("window.applied")
        user = next(d for d in applied if d["type"] == "user")
        assert user["status"] == "not_registered", json.dumps(user)
        assert await tab.evaluate("window.untyped") == []

        # The same page against an sse service that does not list its origin: refused.
        other = await context.new_page()
        await other.goto(f"{origin}/?stream={stack.start_app('sse')}/events/{drop_id}/{user_id}")
        await other.wait_for_function("() => window.failed", timeout=15_000)
        assert await other.evaluate("window.applied") == []
    finally:
        await context.close()
