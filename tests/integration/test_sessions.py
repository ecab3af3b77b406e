"""User sessions can be listed and revoked, and a revoked one is refused by every replica
at once: logout, revoking one or all, and recovering the account."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def replica(stack: Stack, api: DropApi) -> AsyncIterator[httpx.AsyncClient]:
    """A second api process on the same NATS and Restate: another replica."""
    url, proc = start_api(stack, "api-sessions-replica", {})
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            yield client
    finally:
        proc.stop()


async def signed_in_twice(api: DropApi) -> tuple[str, str, str, str]:
    """A user registered in two drops with one claim secret: two sessions, both live."""
    user, secret = uid("sess"), secrets.token_urlsafe(24)
    drops = [uid("sd"), uid("sd")]
    tokens = []
    for drop_id in drops:
        await api.create(drop_id, registrationEnd=now_ms() + 600_000, purchaseWindow=60)
        r = await api.client.post(
            f"/api/drop/{drop_id}/register",
            json={"userId": user, "tickets": 1},
            headers={"X-Claim-Secret": secret},
        )
        api.client.cookies.clear()
        assert r.status_code == 200, r.text
        tokens.append(r.headers["x-session-token"])
    return user, drops[0], tokens[0], tokens[1]


async def me(client: httpx.AsyncClient, drop_id: str, user: str, token: str) -> int:
    r = await client.get(f"/api/drop/{drop_id}/me/{user}", headers=bearer(token))
    return r.status_code


async def test_logout_ends_this_session_on_every_replica_and_only_this_one(
    api: DropApi, replica: httpx.AsyncClient
) -> None:
    user, drop_id, first, second = await signed_in_twice(api)
    for client in (api.client, replica):
        assert await me(client, drop_id, user, first) == 200

    out = await replica.post("/api/session/logout", headers=bearer(first))
    assert out.status_code == 200 and out.json() == {"success": True, "revoked": 1}
    assert 'drop_session=""' in out.headers["set-cookie"]  # the cookie is cleared
    for client in (api.client, replica):
        assert await me(client, drop_id, user, first) == 401
        assert await me(client, drop_id, user, second) == 200
    again = await api.client.post("/api/session/logout", headers=bearer(first))
    assert again.json()["revoked"] == 0


async def test_a_holder_lists_their_sessions_and_revokes_one_or_all(
    api: DropApi, replica: httpx.AsyncClient
) -> None:
    user, drop_id, first, second = await signed_in_twice(api)
    listed = await api.client.get(
        "/api/sessions", headers={**bearer(second), "User-Agent": "phone/1"}
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["userId"] == user and len(body["sessions"]) == 2
    current = [s for s in body["sessions"] if s["current"]]
    other = [s for s in body["sessions"] if not s["current"]]
    assert len(current) == 1 and len(other) == 1
    assert all(s["expiresAt"] > s["createdAt"] for s in body["sessions"])

    ended = await api.client.post(
        f"/api/sessions/{other[0]['sessionId']}/revoke", headers=bearer(second)
    )
    assert ended.status_code == 200 and ended.json()["revoked"] == 1
    assert await me(replica, drop_id, user, first) == 401
    assert await me(replica, drop_id, user, second) == 200
    gone = await api.client.post(
        f"/api/sessions/{other[0]['sessionId']}/revoke", headers=bearer(second)
    )
    assert gone.status_code == 404 and gone.json()["code"] == "session_not_found"

    everything = await replica.post("/api/sessions/revoke-all", headers=bearer(second))
    assert everything.status_code == 200 and everything.json()["revoked"] == 1
    assert await me(api.client, drop_id, user, second) == 401
    assert (await api.client.get("/api/sessions", headers=bearer(second))).status_code == 401


async def test_nobody_revokes_or_lists_another_users_sessions(api: DropApi) -> None:
    victim, drop_id, victim_token, _ = await signed_in_twice(api)
    _, _, attacker_token, _ = await signed_in_twice(api)
    theirs = await api.client.get("/api/sessions", headers=bearer(victim_token))
    victim_session = theirs.json()["sessions"][0]["sessionId"]

    tried = await api.client.post(
        f"/api/sessions/{victim_session}/revoke", headers=bearer(attacker_token)
    )
    assert tried.status_code == 404
    assert await me(api.client, drop_id, victim, victim_token) == 200
    assert (await api.client.get("/api/sessions")).status_code == 401
    assert (await api.client.post("/api/sessions/revoke-all")).status_code == 401
    bad_id = await api.client.post(
        "/api/sessions/..%2F..%2Fx/revoke", headers=bearer(attacker_token)
    )
    assert bad_id.status_code in (400, 404, 422)


async def test_recovering_the_account_ends_every_earlier_session(
    api: DropApi, replica: httpx.AsyncClient
) -> None:
    drop_id, user = uid("rec"), uid("rec-user")
    await api.create(drop_id, registrationEnd=now_ms() + 600_000, purchaseWindow=60)
    registered = await api.register(drop_id, user, 1)
    assert registered.status_code == 200
    stolen = registered.headers["x-session-token"]
    assert await me(replica, drop_id, user, stolen) == 200

    recovered = await api.recover(user, api.recovery_codes[user])
    assert recovered.status_code == 200 and recovered.json()["revokedSessions"] == 1
    fresh = recovered.headers["x-session-token"]
    for client in (api.client, replica):
        assert await me(client, drop_id, user, stolen) == 401
        assert await me(client, drop_id, user, fresh) == 200
