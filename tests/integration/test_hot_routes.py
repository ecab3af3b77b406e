"""The crowd's routes answered before routing (apps/api/hot_routes.py) answer as FastAPI does.

Two apps on the same NATS and Restate, one as served and one without `HotRoutes` (every
request routed by FastAPI), get the same requests: bad input must get the same bytes from
both, good input the same shape and headers; the middlewares (metrics, CORS) still see the
hot requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from apps.api.app import create_app
from apps.api.hot_routes import HotRoutes
from drop.domain import pow as pow_rules
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
)
from tests.e2e.support import serve
from tests.integration.test_guards import HUMAN_SIGNALS, bot, from_ip, new_ip, solved
from tests.support.api_client import now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer hot-admin-secret"}
ORIGIN = "http://localhost:3000"


def guarded_app(stack: Stack) -> FastAPI:
    return create_app(
        ConnectionSettings(nats_url=stack.nats_url, restate_ingress_url=stack.ingress_url),
        SecretSettings(admin_secret="hot-admin-secret", ip_hash_salt="hot-salt", drop_env="test"),
        ApiSettings(pow_difficulty=1, rate_limit_default=50, cors_origins=ORIGIN),
        QueueSettings(queue_admission_rate=50, queue_max_concurrent=50),
        NatsAuthSettings(nats_user=stack.auth.nats_user, nats_password=stack.auth.nats_password),
    )


@pytest.fixture(scope="module")
async def both(stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(hot, routed): the app as served, and the same app with every request routed."""
    hot, routed = guarded_app(stack), guarded_app(stack)
    routed.user_middleware = [
        m for m in routed.user_middleware if m.cls is not cast(Any, HotRoutes)
    ]
    async with (
        serve(hot) as hot_url,
        serve(routed) as routed_url,
        httpx.AsyncClient(base_url=hot_url, timeout=60) as a,
        httpx.AsyncClient(base_url=routed_url, timeout=60) as b,
    ):

        async def on_nats() -> None:
            for client in (a, b):
                assert (await client.get("/health")).json()["nats"] == "ok"

        await eventually_async(on_nats, what="both apps on NATS")
        yield a, b


@pytest.fixture(scope="module")
async def drop_id(both: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> str:
    hot = both[0]
    drop = uid("hot")
    now = now_ms()
    body = {
        "dropId": drop,
        "inventory": 5,
        "registrationStart": now,
        "registrationEnd": now + 300_000,
        "purchaseWindow": 60,
    }
    r = await hot.post("/api/drops", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text

    async def known_to_both() -> None:
        for client in both:
            r = await client.get(f"/api/drop/{drop}/status")
            assert r.status_code == 200, r.text

    await eventually_async(known_to_both, what="the drop in both apps' index")
    return drop


def same_answer(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content)
    for header in ("content-type", "content-length", "retry-after"):
        assert a.headers.get(header) == b.headers.get(header), header


async def test_bad_input_gets_fastapis_own_answer(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], drop_id: str
) -> None:
    json_type = {"Content-Type": "application/json"}
    bad: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("POST", f"/api/queue/{drop_id}/join", b"{", json_type),
        (
            "POST",
            f"/api/queue/{drop_id}/join",
            b'{"fingerprint": "x"}',
            {"Content-Type": "text/plain"},
        ),
        ("POST", f"/api/queue/{drop_id}/join", b'{"fingerprint": "x"}', {}),
        ("POST", f"/api/queue/{drop_id}/join", b"{}", json_type),
        ("POST", f"/api/queue/{drop_id}/join", b"", json_type),
        ("POST", "/api/queue/not!an-id/join", b'{"fingerprint": "x"}', json_type),
        ("POST", f"/api/drop/{drop_id}/register", b"[]", json_type),
        ("POST", f"/api/drop/{drop_id}/register", b'{"userId": "a b", "tickets": 0}', json_type),
        ("POST", f"/api/drop/{drop_id}/register", b"\xff\xfe", json_type),
        ("GET", f"/api/queue/{drop_id}/status/not!a-token", None, {}),
        ("GET", f"/api/queue/{'x' * 101}/status/abc", None, {}),
    ]
    hot, routed = both
    for method, path, content, headers in bad:
        a = await hot.request(method, path, content=content, headers=headers)
        b = await routed.request(method, path, content=content, headers=headers)
        assert 400 <= a.status_code < 500, (path, a.text)
        same_answer(a, b)


async def test_refusals_and_unknowns_answer_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], drop_id: str
) -> None:
    hot, routed = both
    challenge = pow_rules.make_challenge(now_ms(), "ab" * 16)
    good_entry = {"userId": uid("u"), "tickets": 1, "botValidation": bot((challenge, "0"))}
    for method, path, body in [
        ("GET", f"/api/queue/{drop_id}/status/{uid('t')}", None),  # unknown token: 200
        ("POST", f"/api/drop/{uid('none')}/register", good_entry),  # unknown drop: 404
        ("POST", f"/api/drop/{drop_id}/register", good_entry),  # no queue token: 400
        ("POST", f"/api/queue/{uid('none')}/join", {"fingerprint": "f"}),  # 404
    ]:
        a = await hot.request(method, path, json=body, headers=from_ip(new_ip()))
        b = await routed.request(method, path, json=body, headers=from_ip(new_ip()))
        same_answer(a, b)


async def registered(client: httpx.AsyncClient, drop_id: str) -> httpx.Response:
    """One person through join, status until ready, challenge and registration."""
    ip = new_ip()
    r = await client.post(
        f"/api/queue/{drop_id}/join", json={"fingerprint": uid("fp")}, headers=from_ip(ip)
    )
    assert r.status_code == 200, r.text
    token = r.json()["token"]

    async def ready() -> None:
        r = await client.get(f"/api/queue/{drop_id}/status/{token}")
        assert r.json()["status"] == "ready", r.text

    await eventually_async(ready, what="admission")
    body: dict[str, Any] = {
        "userId": uid("u"),
        "tickets": 1,
        "queueToken": token,
        "botValidation": bot(await solved(client, ip)),
        "behaviorSignals": HUMAN_SIGNALS,
    }
    headers = {**from_ip(ip), "Idempotency-Key": uid("key") + "x" * 20}
    return await client.post(f"/api/drop/{drop_id}/register", json=body, headers=headers)


async def test_a_person_gets_the_same_answers_either_way(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], drop_id: str
) -> None:
    a, b = [await registered(client, drop_id) for client in both]
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert a.json().keys() == b.json().keys()
    assert "recoveryCode" in a.json()
    for header in ("content-type", "x-session-token"):
        assert (header in a.headers) and (header in b.headers), header
    assert a.cookies.keys() == b.cookies.keys() != set()


def counted(route: str, method: str, status: str) -> float:
    labels = {"service": "api", "route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_the_middlewares_still_see_hot_requests(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], drop_id: str
) -> None:
    hot, _ = both
    route = "/api/queue/{dropId}/status/{token}"
    before = counted(route, "GET", "200")
    r = await hot.get(f"/api/queue/{drop_id}/status/{uid('t')}", headers={"Origin": ORIGIN})
    assert r.status_code == 200, r.text
    assert counted(route, "GET", "200") == before + 1
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-session-token" in r.headers["access-control-expose-headers"].lower()
