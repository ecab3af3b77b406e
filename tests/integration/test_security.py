"""Sessions, admin auth and idempotency keys."""

from __future__ import annotations

import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, events, now_ms, uid

pytestmark = pytest.mark.integration


async def test_users_cannot_touch_each_others_purchase(api: DropApi, bus: Bus) -> None:
    drop_id = uid("sec")
    alice, bob = uid("alice"), uid("bob")
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 2500, purchaseWindow=30)
        await api.register(drop_id, alice, 1)
        await api.register(drop_id, bob, 1)
        await log.phase(drop_id, "purchase")
    steal = await api.start_purchase(drop_id, bob, as_user=alice)
    assert steal.status_code == 403 and steal.json()["code"] == "wrong_user"
    anonymous = await api.client.post(f"/api/drop/{drop_id}/purchase/start", json={"userId": bob})
    assert anonymous.status_code == 401
    forged = await api.client.post(
        f"/api/drop/{drop_id}/purchase/start",
        json={"userId": bob},
        headers={"Authorization": "Bearer " + api.sessions[bob][:-4] + "AAAA"},
    )
    assert forged.status_code == 401
    bob_token = (await api.start_purchase(drop_id, bob)).json()["purchaseToken"]
    with_bobs_token = await api.purchase(drop_id, alice, bob_token)
    assert with_bobs_token.status_code == 403
    complete_for_bob = await api.purchase(drop_id, bob, bob_token, as_user=alice)
    assert complete_for_bob.status_code == 403
    read_bob = await api.client.get(f"/api/drop/{drop_id}/me/{bob}", headers=api.auth(alice))
    assert read_bob.status_code == 403
    assert (await api.me(drop_id, bob))["token"] == bob_token
    assert (await api.status(drop_id))["inventory"] == 2
    assert (await api.purchase(drop_id, bob, bob_token)).status_code == 200


async def test_admin_routes_need_the_secret(api: DropApi) -> None:
    drop_id = uid("adm")
    body = {
        "dropId": drop_id,
        "inventory": 1,
        "registrationStart": now_ms(),
        "registrationEnd": now_ms() + 60_000,
        "purchaseWindow": 60,
    }
    missing = await api.client.post("/api/drops", json=body)
    assert missing.status_code == 401
    wrong = await api.client.post("/api/drops", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert (await api.client.get(f"/api/drop/{drop_id}/status")).status_code == 404
    await api.create(drop_id)
    for path in (f"/api/drop/{drop_id}/lottery", f"/api/drop/{drop_id}/promote"):
        assert (await api.client.post(path)).status_code == 401
        assert (
            await api.client.post(path, headers={"Authorization": "Bearer x"})
        ).status_code == 403
    assert (await api.status(drop_id))["phase"] == "registration"


async def test_replayed_idempotency_key_returns_the_first_answer(api: DropApi) -> None:
    """The holder's retry (same key, same body, with the session the first answer set)."""
    drop_id = uid("idem")
    await api.create(drop_id)
    user = uid("u")
    headers = {"Idempotency-Key": uid("key")}
    body = {"userId": user, "tickets": 3}
    api.client.cookies.clear()
    first = await api.client.post(f"/api/drop/{drop_id}/register", json=body, headers=headers)
    second = await api.client.post(f"/api/drop/{drop_id}/register", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    # The recovery code is shown once: the stored answer never holds it.
    assert {k: v for k, v in first.json().items() if k != "recoveryCode"} == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert (await api.status(drop_id))["participantCount"] == 1
    fresh = await api.client.post(
        f"/api/drop/{drop_id}/register", json=body, headers={"Idempotency-Key": uid("other")}
    )
    api.client.cookies.clear()
    assert fresh.status_code == 409 and fresh.json()["sessionIssued"] is True
