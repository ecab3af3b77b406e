"""Nobody acts as anyone else: user ids are claimed once, sessions go only to the holder,
and an Idempotency-Key is no password."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from apps.api import idempotency
from apps.api.errors import ApiError
from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

INSIDE = {"lat": 48.86, "lng": 2.35}
FENCE = {"type": "radius", "center": {"lat": 48.8566, "lng": 2.3522}, "radiusMeters": 5000}


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def claim(secret: str, key: str | None = None) -> dict[str, str]:
    headers = {"X-Claim-Secret": secret}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def no_session_given(r: httpx.Response) -> None:
    assert "x-session-token" not in r.headers, r.headers
    assert not any(c.startswith("drop_session=") for c in r.headers.get_list("set-cookie"))


async def open_drops(api: DropApi, n: int) -> list[str]:
    drops = [uid("idn") for _ in range(n)]
    for drop_id in drops:
        await api.create(drop_id, registrationEnd=now_ms() + 600_000, purchaseWindow=60)
    return drops


async def post_register(
    api: DropApi, drop_id: str, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    """A bare request with exactly these headers: no cookie, no session of the test client."""
    api.client.cookies.clear()
    r = await api.client.post(f"/api/drop/{drop_id}/register", json=body, headers=headers)
    api.client.cookies.clear()
    return r


async def test_a_claimed_user_id_cannot_be_taken_over_in_another_drop(api: DropApi) -> None:
    first, second = await open_drops(api, 2)
    victim, secret = uid("victim"), new_secret()
    assert (await api.register(first, victim, 2, headers=claim(secret))).status_code == 200

    body = {"userId": victim, "tickets": 1}
    for headers in ({}, claim(new_secret()), {"Authorization": "Bearer forged.token"}):
        taken = await post_register(api, second, body, headers)
        assert taken.status_code == 403 and taken.json()["code"] == "user_claimed", taken.text
        no_session_given(taken)
    someone = uid("someone")
    assert (await api.register(first, someone, 1)).status_code == 200
    with_own_session = await post_register(api, second, body, api.auth(someone))
    assert with_own_session.json()["code"] == "user_claimed"
    no_session_given(with_own_session)

    assert (await api.status(second))["participantCount"] == 0
    stranger = await api.client.get(f"/api/drop/{first}/me/{victim}")
    assert stranger.status_code == 401
    holder = await post_register(api, second, body, claim(secret))
    assert holder.status_code == 200, holder.text
    me = await api.client.get(
        f"/api/drop/{second}/me/{victim}",
        headers={"Authorization": f"Bearer {holder.headers['x-session-token']}"},
    )
    assert me.status_code == 200 and me.json()["status"] == "registered"


async def test_a_foreign_idempotency_replay_is_refused_and_mints_no_session(
    api: DropApi,
) -> None:
    (drop_id,) = await open_drops(api, 1)
    victim, secret, key = uid("victim"), new_secret(), uid("key")
    body = {"userId": victim, "tickets": 3}
    first = await post_register(api, drop_id, body, claim(secret, key))
    assert first.status_code == 200, first.text

    foreign = await post_register(api, drop_id, body, {"Idempotency-Key": key})
    assert foreign.status_code == 403 and foreign.json()["code"] == "user_claimed"
    assert "participantCount" not in foreign.json()
    no_session_given(foreign)
    guessed = await post_register(api, drop_id, body, claim(new_secret(), key))
    assert guessed.status_code == 403
    no_session_given(guessed)

    # The holder's own retry is served the stored answer, and their proof earns a session.
    again = await post_register(api, drop_id, body, claim(secret, key))
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["x-session-token"]
    # Nobody entered twice: the next person in gets place 2.
    nxt = await post_register(api, drop_id, {"userId": uid("next"), "tickets": 1}, {})
    assert nxt.status_code == 200 and nxt.json()["position"] == 2, nxt.text


async def test_the_same_key_with_another_body_is_refused(api: DropApi) -> None:
    (drop_id,) = await open_drops(api, 1)
    user, secret, key = uid("u"), new_secret(), uid("key")
    body = {"userId": user, "tickets": 2}
    assert (await post_register(api, drop_id, body, claim(secret, key))).status_code == 200
    changed = await post_register(api, drop_id, {**body, "tickets": 5}, claim(secret, key))
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"
    no_session_given(changed)
    assert (await api.status(drop_id))["totalTickets"] == 2


async def test_a_stored_answer_is_bound_to_its_caller_and_body(bus: Bus) -> None:
    scope = idempotency.Scope(f"k{uid('rec')}", body="meaning-a", caller="caller-a")
    await idempotency.remember(bus, scope, 200, {"success": True})
    replayed = await idempotency.replay(bus, scope)
    assert replayed is not None and replayed.status_code == 200
    for other, status, code in (
        (idempotency.Scope(scope.key, "meaning-a", "caller-b"), 403, "idempotency_key_foreign"),
        (idempotency.Scope(scope.key, "meaning-b", "caller-a"), 422, "idempotency_key_reused"),
    ):
        with pytest.raises(ApiError) as refused:
            await idempotency.replay(bus, other)
        assert (refused.value.status, refused.value.code) == (status, code)


async def test_an_answer_that_cannot_be_kept_is_still_a_success(stack: Stack) -> None:
    """`remember` runs after the durable step succeeded: a dead store must not raise."""
    gone = await stack.connect_bus("tests-gone")
    await gone.close()
    scope = idempotency.Scope(f"k{uid('gone')}", body="meaning", caller="caller")
    await idempotency.remember(gone, scope, 200, {"success": True})


async def test_the_holder_gets_a_session_back_after_a_lost_answer(api: DropApi) -> None:
    (drop_id,) = await open_drops(api, 1)
    user, secret = uid("u"), new_secret()
    body = {"userId": user, "tickets": 1}
    lost = await post_register(api, drop_id, body, claim(secret, uid("key")))
    assert lost.status_code == 200  # ...and never reached the browser: no session there

    retry = await post_register(api, drop_id, body, claim(secret, uid("key")))
    assert retry.status_code == 409, retry.text
    assert retry.json()["code"] == "already_registered" and retry.json()["sessionIssued"] is True
    session = retry.headers["x-session-token"]
    assert any(c.startswith("drop_session=") for c in retry.headers.get_list("set-cookie"))
    me = await api.client.get(
        f"/api/drop/{drop_id}/me/{user}", headers={"Authorization": f"Bearer {session}"}
    )
    assert me.status_code == 200 and me.json()["status"] == "registered"

    stranger = await post_register(api, drop_id, body, {"Idempotency-Key": uid("key")})
    assert stranger.status_code == 403
    no_session_given(stranger)


async def test_a_client_without_a_secret_gets_a_recovery_code_once(api: DropApi) -> None:
    first, second, third = await open_drops(api, 3)
    user = uid("legacy")
    claimed = await api.register(first, user, 1)
    assert claimed.status_code == 200
    code = claimed.json()["recoveryCode"]
    assert len(code) >= 22
    again = await api.register(second, user, 1)  # with the session, as the original client
    assert again.status_code == 200 and "recoveryCode" not in again.json()
    by_code = await post_register(api, third, {"userId": user, "tickets": 1}, claim(code))
    assert by_code.status_code == 200 and "recoveryCode" not in by_code.json()


async def test_a_lost_session_is_recovered_only_with_the_code(api: DropApi) -> None:
    (drop_id,) = await open_drops(api, 1)
    legacy, site_user, site_secret = uid("legacy"), uid("site"), new_secret()
    code = (await api.register(drop_id, legacy, 1)).json()["recoveryCode"]
    assert (
        await api.register(drop_id, site_user, 1, headers=claim(site_secret))
    ).status_code == 200

    for user, wrong in ((legacy, new_secret()), (legacy, site_secret), (uid("nobody"), code)):
        refused = await api.client.post(
            "/api/session/recover", json={"userId": user, "recoveryCode": wrong}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "recovery_failed"
        no_session_given(refused)
    for user, proof in ((legacy, code), (site_user, site_secret)):
        api.sessions.pop(user)
        recovered = await api.recover(user, proof)
        assert recovered.status_code == 200 and recovered.json()["sessionIssued"] is True
        assert any(c.startswith("drop_session=") for c in recovered.headers.get_list("set-cookie"))
        assert (await api.me(drop_id, user))["status"] == "registered"


async def test_racing_first_registrations_claim_the_id_once(api: DropApi) -> None:
    drops = await open_drops(api, 4)
    user = uid("contested")
    answers = await asyncio.gather(
        *(post_register(api, d, {"userId": user, "tickets": 1}, claim(new_secret())) for d in drops)
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 403, 403, 403], [r.text for r in answers]
    counts = [(await api.status(d))["participantCount"] for d in drops]
    assert sorted(counts) == [0, 0, 0, 1]


async def test_a_refused_first_registration_leaves_the_id_free(api: DropApi) -> None:
    fenced = uid("geo")
    await api.create(fenced, geoFence=FENCE, geoFenceMode="exclusive")
    user = uid("u")
    body = {"userId": user, "tickets": 1}
    for headers in ({}, claim(new_secret())):
        refused = await post_register(api, fenced, body, headers)
        assert refused.status_code == 400 and refused.json()["code"] == "location_required"
        assert "recoveryCode" not in refused.json()
    mine = await post_register(api, fenced, {**body, "location": INSIDE}, claim(new_secret()))
    assert mine.status_code == 200, mine.text


async def test_a_malformed_claim_secret_is_a_clear_400(api: DropApi) -> None:
    (drop_id,) = await open_drops(api, 1)
    r = await post_register(api, drop_id, {"userId": uid("u"), "tickets": 1}, claim("short"))
    assert r.status_code == 400 and r.json()["code"] == "claim_secret_invalid"
