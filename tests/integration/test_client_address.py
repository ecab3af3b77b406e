"""Per-IP limits hold through the web from an address no service trusts, whatever
X-Forwarded-For the client writes (drop.client_address): the web always appends the peer
it saw, and the api and sse stop at the first hop they do not trust.

The client connects from 127.0.0.2 (loopback, but not a trusted proxy: only 127.0.0.1
is), and names a new 10.4.0.N address in every request, as the attack did."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.support.api_client import ADMIN, now_ms, uid
from tests.support.stack import Stack, start_extra

pytestmark = pytest.mark.integration

ATTACKER, NEIGHBOUR = "127.0.0.2", "127.0.0.3"
GUARDS = {
    "SKIP_RATE_LIMIT": "false",
    "QUEUE_ENABLED": "true",
    "RATE_LIMIT_DEFAULT": "10",
    "RATE_LIMIT_REGISTER": "5",
    "QUEUE_MAX_PER_IP": "3",
    "QUEUE_ADMISSION_RATE": "1",
    "QUEUE_MAX_CONCURRENT": "1",
}
STREAMS_PER_IP = 2
_forged = itertools.count(1)


def forged(address: str = ATTACKER) -> dict[str, str]:
    """The attack's header: the client's own address, then a made-up proxy hop."""
    return {"X-Forwarded-For": f"{address}, 10.4.0.{next(_forged) % 250}"}


@pytest.fixture(scope="module")
def web(stack: Stack) -> Iterator[str]:
    api_url, api = start_extra(stack, "api", "api-edge", GUARDS)
    sse_env = {"SSE_MAX_STREAMS_PER_IP": str(STREAMS_PER_IP)}
    sse_url, sse = start_extra(stack, "sse", "sse-edge", sse_env)
    upstreams = {"INTERNAL_API_URL": api_url, "INTERNAL_SSE_URL": sse_url}
    web_url, web = start_extra(stack, "web", "web-edge", upstreams)
    try:
        yield web_url
    finally:
        for proc in (web, sse, api):
            proc.stop()


def client_from(address: str, web: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=web, transport=transport, timeout=30)


@pytest.fixture
async def attacker(web: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(ATTACKER, web) as client:
        yield client


async def test_forged_hops_do_not_buy_more_challenges(
    attacker: httpx.AsyncClient, web: str
) -> None:
    codes = [
        (await attacker.get("/api/pow/challenge", headers=forged())).status_code for _ in range(12)
    ]
    assert codes == [200] * 10 + [429, 429]
    async with client_from(NEIGHBOUR, web) as neighbour:
        assert (await neighbour.get("/api/pow/challenge")).status_code == 200


async def test_forged_hops_do_not_buy_more_waiting_places(attacker: httpx.AsyncClient) -> None:
    drop_id = uid("edge")
    body = {
        "dropId": drop_id,
        "inventory": 1,
        "registrationStart": now_ms(),
        "registrationEnd": now_ms() + 120_000,
        "purchaseWindow": 60,
    }
    assert (await attacker.post("/api/drops", json=body, headers=ADMIN)).status_code == 201
    answers = [
        await attacker.post(
            f"/api/queue/{drop_id}/join", json={"fingerprint": uid("fp")}, headers=forged()
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 409]
    assert answers[-1].json()["code"] == "queue_ip_limit"


async def test_forged_hops_do_not_buy_more_recovery_attempts(
    attacker: httpx.AsyncClient,
) -> None:
    body = {"userId": uid("victim"), "recoveryCode": "guess"}
    codes = [
        (await attacker.post("/api/session/recover", json=body, headers=forged())).status_code
        for _ in range(6)
    ]
    assert 429 not in codes[:5] and codes[5] == 429, codes


async def test_forged_hops_do_not_buy_more_streams(attacker: httpx.AsyncClient, web: str) -> None:
    async with AsyncExitStack() as streams:
        for _ in range(STREAMS_PER_IP):
            opened = await streams.enter_async_context(
                attacker.stream("GET", "/events/drops", headers=forged())
            )
            assert opened.status_code == 200
        refused = await attacker.get("/events/drops", headers=forged())
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "too_many_streams"
        async with (
            client_from(NEIGHBOUR, web) as neighbour,
            neighbour.stream("GET", "/events/drops") as other,
        ):
            assert other.status_code == 200
