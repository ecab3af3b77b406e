"""A drop from creation to completed through the real stack: API → Restate → worker → NATS."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest

from drop import verify
from drop.adapters.nats_bus import Bus
from drop.domain import merkle, pricing
from drop.domain.loyalty import effective_tickets
from tests.support.api_client import DropApi, events, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

FINAL = ("expired", "settled")


async def seed_history(stack: Stack, user_id: str, drops: int, credits: int) -> None:
    """Give a user past participations and rollover credits through Restate ingress."""
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as ingress:
        for n in range(drops):
            r = await ingress.post(
                f"/UserLoyalty/{user_id}/recordParticipation",
                json={"dropId": f"past-{n}", "atMs": now_ms() - (drops - n) * 86_400_000},
            )
            assert r.status_code == 200, r.text
        if credits:
            r = await ingress.post(
                f"/UserRollover/{user_id}/addRollover", json={"dropId": "past", "credits": credits}
            )
            assert r.status_code == 200, r.text


async def test_full_lifecycle(api: DropApi, bus: Bus, stack: Stack, tmp_path: Path) -> None:
    drop_id = uid("life")
    users = [uid(f"u{i}") for i in range(50)]
    tickets = {u: random.Random(i).randint(1, 10) for i, u in enumerate(users)}
    veterans = users[:5]  # silver tier (3 drops, streak 3 → 1.3x) with 2 rollover credits
    await asyncio.gather(*(seed_history(stack, u, 3, 2) for u in veterans))
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=10, registrationEnd=now_ms() + 6000, purchaseWindow=4)
        answers = await asyncio.gather(*(api.register(drop_id, u, tickets[u]) for u in users))
        for user, r in zip(users, answers, strict=True):
            assert r.status_code == 200, r.text
            body = r.json()
            multiplier = 1.3 if user in veterans else 1.0
            credits = 2 if user in veterans else 0
            expected = pricing.entry_breakdown(tickets[user], credits, 1.0)
            assert body["effectiveTickets"] == effective_tickets(tickets[user], multiplier, 1.0)
            assert body["loyaltyMultiplier"] == multiplier
            assert body["rolloverUsed"] == expected.rollover_used
            assert body["paidEntries"] == expected.paid_entries
            assert body["cost"] == expected.cost
        assert sorted(r.json()["position"] for r in answers) == list(range(1, 51))

        drawn = await log.phase(drop_id, "purchase", timeout=30)  # fired by the timer alone
        assert drawn["participantCount"] == 50
        assert drawn["winnerCount"] == 10
        assert now_ms() >= drawn["registrationEnd"]
        proof = (await api.proof(drop_id))["proof"]
        winners, backups = proof["winners"], proof["backupWinners"]
        assert len(backups) == 5

        lapsing = winners[0]
        buys = await asyncio.gather(*(api.buy(drop_id, u) for u in winners[1:]))
        assert min(b["inventory"] for b in buys) == 1
        promoted = await log.wait_for(
            lambda s, e: s == f"drop.{drop_id}.user.{backups[0]}" and e["type"] == "winner",
            timeout=30,
        )
        assert promoted["data"]["promoted"] is True
        await log.wait_for(
            lambda s, e: s == f"drop.{drop_id}.user.{lapsing}" and e["type"] == "expired"
        )
        expired = await api.me(drop_id, lapsing)
        assert expired["status"] == "expired"
        assert expired["rolloverEarned"] == expired["paidEntries"] // 2
        last = await api.buy(drop_id, backups[0])
        assert last == {**last, "inventory": 0, "phase": "completed"}
        final = await log.phase(drop_id, "completed")
        assert final["inventory"] == 0
        loser = next(u for u in users if u not in winners and u not in backups)
        if answers[users.index(loser)].json()["paidEntries"] > 0:  # credited at the close
            await log.wait_for(
                lambda s, e: s == f"drop.{drop_id}.user.{loser}" and e["type"] == "settled"
            )

    assert all(
        s["inventory"] >= 0 for s in (e["data"] for _, e in log.items if "inventory" in e["data"])
    )
    assert len(log.ids()) == len(set(log.ids())), "an event id was delivered twice"

    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(await api.proof(drop_id)))
    assert verify.main([str(proof_file)]) == 0
    for user in users:
        r = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{user}")
        inclusion = r.json()["proof"]
        steps = merkle.proof_from_wire(inclusion["proof"], inclusion["proofSides"])
        assert merkle.verify_proof(inclusion["leafHash"], steps, proof["participantMerkleRoot"])
        assert inclusion["leaf"]["userId"] == user and inclusion["verified"] is True

    settled = await api.me(drop_id, loser)
    assert settled["status"] == "loser"
    balance = (await api.client.get(f"/api/drop/rollover/{loser}")).json()["balance"]
    # Paid entries come back as credits, on top of whatever credits the entry left unused.
    unused = (2 if loser in veterans else 0) - settled["rolloverUsed"]
    assert balance == min(10, unused + settled["paidEntries"])


async def test_consecutive_drops_carry_rollover_and_loyalty(api: DropApi, bus: Bus) -> None:
    first, second = uid("first"), uid("second")
    winner_pool = [uid("w") for _ in range(3)]
    async with events(bus, f"drop.{first}.>") as log:
        await api.create(first, inventory=1, registrationEnd=now_ms() + 3000, purchaseWindow=1)
        for user in winner_pool:
            assert (await api.register(first, user, 6)).status_code == 200
        await log.phase(first, "completed", timeout=30)  # nobody buys: the window lapses
        for user in winner_pool:
            await log.wait_for(lambda s, e, u=user: s.endswith(f".user.{u}") and e["type"] in FINAL)
    credits = {}
    for user in winner_pool:
        me = await api.me(first, user)
        assert me["status"] in ("expired", "loser")
        credits[user] = 5 if me["status"] == "loser" else 5 // 2
        balance = (await api.client.get(f"/api/drop/rollover/{user}")).json()["balance"]
        assert balance == credits[user]
        stats = (await api.client.get(f"/api/drop/loyalty/{user}")).json()
        assert stats["dropsParticipated"] == 1

    await api.create(second, inventory=1, registrationEnd=now_ms() + 5000)
    for user in winner_pool:
        body = (await api.register(second, user, 6)).json()
        assert body["rolloverUsed"] == credits[user]
        assert body["paidEntries"] == 6 - credits[user] - 1
        balance = (await api.client.get(f"/api/drop/rollover/{user}")).json()["balance"]
        assert balance == 0


async def test_geo_fenced_drops(api: DropApi) -> None:
    fence = {"type": "radius", "center": {"lat": 48.8566, "lng": 2.3522}, "radiusMeters": 5000}
    inside, outside = {"lat": 48.86, "lng": 2.35}, {"lat": 51.5, "lng": -0.12}
    exclusive, bonus = uid("geo-x"), uid("geo-b")
    await api.create(exclusive, geoFence=fence, geoFenceMode="exclusive")
    missing = await api.register(exclusive, uid("a"), 2)
    assert missing.status_code == 400 and missing.json()["code"] == "location_required"
    far = await api.register(exclusive, uid("b"), 2, location=outside)
    assert far.status_code == 403 and far.json()["code"] == "outside_geofence"
    near = await api.register(exclusive, uid("c"), 2, location=inside)
    assert near.status_code == 200 and near.json()["inGeoZone"] is True

    await api.create(bonus, geoFence=fence, geoFenceMode="bonus", geoFenceBonusMultiplier=2.0)
    boosted = (await api.register(bonus, uid("d"), 3, location=inside)).json()
    assert boosted["geoBonus"] == 2.0 and boosted["effectiveTickets"] == 6
    plain = (await api.register(bonus, uid("e"), 3, location=outside)).json()
    assert plain["geoBonus"] == 1.0 and plain["effectiveTickets"] == 3


async def test_concurrent_purchases_never_oversell(api: DropApi, bus: Bus) -> None:
    drop_id = uid("rush")
    users = [uid("r") for _ in range(25)]
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(drop_id, inventory=10, registrationEnd=now_ms() + 4000, purchaseWindow=20)
        await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
        await log.phase(drop_id, "purchase")
    proof = (await api.proof(drop_id))["proof"]
    winners = proof["winners"]
    tokens = {}
    for w in winners:
        r = await api.start_purchase(drop_id, w)
        tokens[w] = r.json()["purchaseToken"]
    attempts = []
    for n in range(100):
        who = users[n % len(users)]
        if who in tokens:
            attempts.append((who, api.purchase(drop_id, who, tokens[who])))
        else:  # losers, backups and strangers replaying a winner's token
            victim = winners[n % len(winners)]
            attempts.append((who, api.purchase(drop_id, who, tokens[victim])))
    results = await asyncio.gather(*(a for _, a in attempts))
    ok = [
        (who, r.json())
        for (who, _), r in zip(attempts, results, strict=True)
        if r.status_code == 200
    ]
    assert len(ok) == 10
    assert len({who for who, _ in ok}) == 10
    assert {r.status_code for r in results} <= {200, 403, 409, 410}
    assert (await api.status(drop_id))["inventory"] == 0


async def test_bad_input_is_a_clear_4xx(api: DropApi) -> None:
    drop_id = uid("bad")
    r = await api.client.post(
        "/api/drops",
        json={"dropId": drop_id},
        headers={"Authorization": "Bearer test-admin-secret"},
    )
    assert r.status_code == 400 and r.json()["error"] == "Validation failed"
    assert {d["path"] for d in r.json()["details"]} >= {"inventory", "registrationEnd"}
    await api.create(drop_id)
    cases = [
        ({"userId": "x y", "tickets": 1}, 400),
        ({"userId": "ok", "tickets": 0}, 400),
        ({"userId": "ok", "tickets": 11}, 400),
        ({"userId": "ok"}, 400),
        ({"userId": "ok", "tickets": "many"}, 400),
    ]
    for body, status in cases:
        r = await api.client.post(f"/api/drop/{drop_id}/register", json=body)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()
    bad_json = await api.client.post(
        f"/api/drop/{drop_id}/register",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert (await api.client.get("/api/drop/no-such-drop/status")).status_code == 404
    assert (await api.client.get("/api/drop/bad%20id/status")).status_code == 400
    assert (await api.register("no-such-drop", uid("u"), 1)).status_code == 404
    first = await api.register(drop_id, "dup-user", 1)
    assert first.status_code == 200
    again = await api.register(drop_id, "dup-user", 1)
    assert again.status_code == 409 and again.json()["code"] == "already_registered"
    assert again.json()["sessionIssued"] is True  # the holder proved the claim with a session
    early = await api.start_purchase(drop_id, "dup-user")
    assert early.status_code == 409 and early.json()["code"] == "wrong_phase"
    assert (await api.status(drop_id))["participantCount"] == 1
