"""Admin authentication under attack: wrong secrets are limited per address and overall,
exactly across api replicas; the console's sign-out ends its session on every web replica
and cannot be triggered from another site.

Each test runs on a stack of its own: a locked-out admin would hold up every other test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from apps.web.app import create_app
from drop.settings import ConnectionSettings, SecretSettings
from tests.e2e.support import ADMIN_SECRET, serve
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration

RIGHT = {"Authorization": f"Bearer {ADMIN_SECRET}"}
WRONG = {"Authorization": "Bearer not-the-secret"}
LIMITS = {"ADMIN_FAILURES_PER_IP": "3", "ADMIN_FAILURES_GLOBAL": "5"}


def from_ip(address: str, headers: dict[str, str]) -> dict[str, str]:
    # The api trusts X-Forwarded-For from 127.0.0.1, as it trusts the web.
    return {**headers, "X-Forwarded-For": address}


@pytest.fixture
async def apis(own_stack: Stack) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two api replicas with small admin budgets, on a NATS of their own."""
    async with AsyncExitStack() as stack:
        clients = []
        for n in range(2):
            url, proc = start_api(own_stack, f"api-admin-{n}", LIMITS)
            stack.callback(proc.stop)  # start_api returns once it is on NATS
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            )
        yield clients


async def open_session(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/admin/sessions", headers=headers)


async def test_wrong_admin_secrets_are_limited_exactly_across_replicas(
    apis: list[httpx.AsyncClient],
) -> None:
    # The right secret costs nothing: many uses never reach the budget.
    for n in range(6):
        assert (await open_session(apis[n % 2], from_ip("10.9.0.1", RIGHT))).status_code == 201

    # 20 guesses at once from one address, spread over both replicas: exactly 3 compared.
    guesses = await asyncio.gather(
        *(open_session(apis[n % 2], from_ip("10.9.0.2", WRONG)) for n in range(20))
    )
    codes = sorted(r.status_code for r in guesses)
    assert codes == [403] * 3 + [429] * 17, codes
    refused = next(r for r in guesses if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["code"] == "admin_rate_limited"
    # Past the budget even the right secret waits: a guess that happened to be right
    # must not be told so.
    locked = await open_session(apis[0], from_ip("10.9.0.2", RIGHT))
    assert locked.status_code == 429 and "retry-after" in locked.headers
    # Another address still gets in, until the global budget (5) runs out.
    assert (await open_session(apis[1], from_ip("10.9.0.3", RIGHT))).status_code == 201
    assert (await open_session(apis[1], from_ip("10.9.0.3", WRONG))).status_code == 403
    assert (await open_session(apis[0], from_ip("10.9.0.4", WRONG))).status_code == 403
    everyone = await open_session(apis[0], from_ip("10.9.0.5", WRONG))
    assert everyone.status_code == 429
    assert (await open_session(apis[1], from_ip("10.9.0.6", RIGHT))).status_code == 429
    # A missing bearer is no guess, and admin routes elsewhere share the budget.
    assert (await apis[0].post("/api/admin/sessions")).status_code == 401
    assert (await apis[0].post("/api/drops", json={}, headers=RIGHT)).status_code == 429


async def test_console_sign_out_ends_the_session_on_every_web_replica(
    own_stack: Stack, apis: list[httpx.AsyncClient]
) -> None:
    def web_app(api: httpx.AsyncClient) -> object:
        connections = ConnectionSettings(
            internal_api_url=str(api.base_url), internal_sse_url=str(api.base_url)
        )
        return create_app(connections, SecretSettings(admin_secret=ADMIN_SECRET, drop_env="test"))

    async with (
        serve(web_app(apis[0])) as web_a,
        serve(web_app(apis[1])) as web_b,
        httpx.AsyncClient(base_url=web_a, timeout=30) as a,
        httpx.AsyncClient(base_url=web_b, timeout=30) as b,
    ):
        signed = await a.post("/admin/login", data={"secret": ADMIN_SECRET})
        assert signed.status_code == 303, signed.text
        cookie = {"cookie": f"drop_admin={a.cookies['drop_admin']}"}
        a.cookies.clear()
        for web in (a, b):
            assert "Create a drop" in (await web.get("/admin", headers=cookie)).text

        # Another site's form cannot sign the operator out.
        evil = {**cookie, "origin": "https://evil.example"}
        assert (await b.post("/admin/logout", headers=evil)).status_code == 403
        assert "Create a drop" in (await a.get("/admin", headers=cookie)).text

        out = await b.post("/admin/logout", headers={**cookie, "origin": web_b})
        assert out.status_code == 303 and 'drop_admin=""' in out.headers["set-cookie"]
        # A copy of the cookie kept from before is refused by every replica.
        for web in (a, b):
            page = await web.get("/admin", headers=cookie)
            assert "Create a drop" not in page.text and 'name="secret"' in page.text
            acted = await web.post("/admin/by-id/lottery", data={"dropId": "x"}, headers=cookie)
            assert acted.status_code == 303 and acted.headers["location"] == "/admin"


async def test_console_login_is_limited_and_says_when_to_retry(
    apis: list[httpx.AsyncClient],
) -> None:
    web_settings = ConnectionSettings(
        internal_api_url=str(apis[0].base_url), internal_sse_url=str(apis[0].base_url)
    )
    app = create_app(web_settings, SecretSettings(admin_secret=ADMIN_SECRET, drop_env="test"))
    async with serve(app) as web, httpx.AsyncClient(base_url=web, timeout=30) as client:
        for _ in range(3):
            wrong = await client.post("/admin/login", data={"secret": "guess"})
            assert wrong.status_code == 401 and "not right" in wrong.text
        limited = await client.post("/admin/login", data={"secret": ADMIN_SECRET})
        assert limited.status_code == 429 and "Too many" in limited.text
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "drop_admin" not in client.cookies
