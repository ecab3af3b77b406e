"""Sizes (issue 23) on the real stack: a kill -9 during the draw, a lapse, an operator's
promote, bad input, and the console's size editor and per-size funnel."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from drop.domain import lottery
from drop.domain.beacon import BeaconRecord
from drop.verify import main as verify_main
from tests.e2e.support import ADMIN_SECRET
from tests.support.api_client import ADMIN, DropApi, events, now_ms, uid
from tests.support.replay import check_drop, object_state
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

SIZES = [
    {"id": "S", "label": "Small", "inventory": 4},
    {"id": "M", "label": "Medium", "inventory": 6},
    {"id": "L", "label": "Large", "inventory": 3},
]
CHOICES = [["M"], ["M", "L"], ["S", "M"], ["L"], ["S"], ["L", "M", "S"]]


def recomputed(proof: dict[str, Any]) -> lottery.LotteryProof:
    """The draw an uninterrupted run makes from the proof's secret, entries and sizes."""
    participants = [
        lottery.Participant(p["userId"], p["effectiveTickets"], tuple(p["variants"]))
        for p in proof["participants"]
    ]
    sizes = [lottery.Variant(v["id"], v["label"], v["inventory"]) for v in proof["variants"]]
    return lottery.run_draw(
        proof["dropId"],
        proof["secret"],
        participants,
        proof["inventory"],
        proof["backupMultiplier"],
        proof["timestamp"],
        registration_start=proof["registrationStart"],
        registration_end=proof["registrationEnd"],
        beacon=BeaconRecord.from_wire(proof["beacon"]),
        variants=sizes,
    )


async def test_worker_killed_during_a_sized_draw(
    api: DropApi, bus: Bus, stack: Stack, tmp_path: Path
) -> None:
    drop_id = uid("sizes-crash")
    users = [uid("z") for _ in range(60)]
    ranked = {u: CHOICES[n % len(CHOICES)] for n, u in enumerate(users)}
    registration_end = now_ms() + 4000
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(
            drop_id,
            inventory=13,
            variants=SIZES,
            registrationEnd=registration_end,
            purchaseWindow=60,
        )
        answers = await asyncio.gather(
            *(api.register(drop_id, u, 1 + n % 5, variants=ranked[u]) for n, u in enumerate(users))
        )
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        receipt = answers[0].json()["receipt"]
        assert receipt["leaf"].endswith(":" + ",".join(ranked[users[0]]))
        await asyncio.sleep(max(0.0, (registration_end - now_ms()) / 1000))
        stack.procs["worker"].kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(partial(stack.restart, "worker"))
        drawn = await log.phase(drop_id, "purchase", timeout=60)
        proof = (await api.proof(drop_id))["proof"]
        for winner in proof["winners"]:
            await log.wait_for(
                lambda s, e, w=winner: s.endswith(f".user.{w}") and e["type"] == "winner"
            )
    assert drawn["winnerCount"] == 13 and drawn["inventory"] == 13
    again = recomputed(proof)
    assert list(again.winners) == proof["winners"]
    assert list(again.backups) == proof["backupWinners"]
    assert dict(again.allocation) == proof["allocation"]
    assert Counter(proof["allocation"][w] for w in proof["winners"]) == {"S": 4, "M": 6, "L": 3}
    for user in proof["winners"]:
        assert proof["allocation"][user] in ranked[user]
    assert {p["userId"]: p["variants"] for p in proof["participants"]} == ranked
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    assert verify_main([str(path)]) == 0
    winner, backup = proof["winners"][0], proof["backupWinners"][0]
    mine = await api.me(drop_id, winner)
    assert (mine["status"], mine["variant"]) == ("winner", proof["allocation"][winner])
    waiting = await api.me(drop_id, backup)
    assert (waiting["status"], waiting["variant"]) == ("backup_winner", ranked[backup][0])
    status = await api.status(drop_id)
    assert [(v["id"], v["inventory"]) for v in status["variants"]] == [("S", 4), ("M", 6), ("L", 3)]
    # A size moved to someone after the draw is named by the verifier.
    tampered = {**proof, "allocation": {**proof["allocation"], winner: "none"}}
    path.write_text(json.dumps(tampered))
    assert verify_main([str(path)]) == 1


async def test_a_lapse_promotes_the_next_backup_who_ranked_that_size(
    api: DropApi, bus: Bus, stack: Stack
) -> None:
    drop_id = uid("sizes-lapse")
    ranked = {
        **{uid("s"): ["S"] for _ in range(4)},
        **{uid("m"): ["M"] for _ in range(4)},
        **{uid("b"): ["S", "M"] for _ in range(2)},
    }
    sizes = [{"id": "S", "label": "Small", "inventory": 1}, {"id": "M", "inventory": 1}]
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(
            drop_id,
            inventory=2,
            variants=sizes,
            registrationEnd=now_ms() + 3000,
            # Long enough for the buyer below on a loaded machine; the lapser's runs out.
            purchaseWindow=6,
            backupMultiplier=3.0,
        )
        answers = await asyncio.gather(
            *(api.register(drop_id, u, 1, variants=r) for u, r in ranked.items())
        )
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        await log.phase(drop_id, "purchase", timeout=60)
        proof = (await api.proof(drop_id))["proof"]
        given = proof["allocation"]
        buyer = next(w for w in proof["winners"] if given[w] == "S")
        lapser = next(w for w in proof["winners"] if given[w] == "M")
        heir = next(b for b in proof["backupWinners"] if "M" in ranked[b])
        bought = await api.buy(drop_id, buyer)
        assert bought["inventory"] == 1
        await log.wait_for(
            lambda s, e: s.endswith(f".user.{heir}") and e["data"]["status"] == "winner",
            timeout=30,
        )
    me = await api.me(drop_id, heir)
    assert (me["status"], me["variant"], me["promoted"]) == ("winner", "M", True)
    assert (await api.me(drop_id, buyer))["variant"] == "S"
    assert (await api.me(drop_id, lapser))["status"] == "expired"
    status = await api.status(drop_id)
    assert {v["id"]: v["inventory"] for v in status["variants"]} == {"S": 0, "M": 1}
    async with httpx.AsyncClient(base_url=stack.admin_url, timeout=10) as admin:
        st = await object_state(admin, "Drop", drop_id)
    check_drop(st, 2)
    assert st["orders"] == [[f"{drop_id}-1", buyer, "S"]]
    assert st["core"]["variantInventory"] == {"S": 0, "M": 1}


def _named(r: httpx.Response, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert field in r.text, r.text


async def test_bad_sizes_are_refused_by_name(api: DropApi) -> None:
    start = now_ms()
    base = {"registrationStart": start, "registrationEnd": start + 60_000, "purchaseWindow": 60}

    async def create(**body: Any) -> httpx.Response:
        sent = {"dropId": uid("sizes-bad"), **base, **body}
        return await api.client.post("/api/drops", json=sent, headers=ADMIN)

    _named(await create(variants=[{"id": "S", "inventory": 0}]), 400, "variants")
    many = [{"id": f"v{n}", "inventory": 1} for n in range(51)]
    _named(await create(variants=many), 400, "variants")
    _named(await create(variants=[{"id": "S", "inventory": 1}] * 2), 400, "repeated")
    _named(await create(inventory=9, variants=[{"id": "S", "inventory": 2}]), 400, "inventory")
    sized, plain = uid("sizes-ok"), uid("sizes-plain")
    await api.create(sized, inventory=13, variants=SIZES, registrationEnd=start + 60_000)
    await api.create(plain, inventory=2, registrationEnd=start + 60_000)
    for ranking, why in ((["XL"], "unknown"), (["S", "S"], "more than once"), ([], "variants")):
        _named(await api.register(sized, uid("u"), 1, variants=ranking), 400, why)
    _named(await api.register(sized, uid("u"), 1), 400, "variants")
    _named(await api.register(plain, uid("u"), 1, variants=["S"]), 400, "no sizes")
    # A drop without sizes is unchanged on the wire.
    entered = uid("u")
    assert (await api.register(plain, entered, 1)).status_code == 200
    assert "variants" not in await api.status(plain)
    assert "variant" not in await api.me(plain, entered)
    ok = await api.register(sized, entered, 1, variants=["L", "S"])
    assert ok.status_code == 200, ok.text


async def sizes_of(api: DropApi, drop_id: str) -> dict[str, dict[str, Any]]:
    r = await api.client.get(f"/api/admin/drop/{drop_id}/sizes", headers=ADMIN)
    assert r.status_code == 200, r.text
    return {v["id"]: v for v in r.json()["variants"]}


async def test_an_admin_promote_gives_the_first_backup_a_size_with_stock_left(
    api: DropApi, bus: Bus
) -> None:
    drop_id = uid("sizes-promote")
    ranked = {**{uid("s"): ["S"] for _ in range(4)}, **{uid("m"): ["M"] for _ in range(4)}}
    sizes = [{"id": "S", "label": "Small", "inventory": 1}, {"id": "M", "inventory": 1}]
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(
            drop_id,
            inventory=2,
            variants=sizes,
            registrationEnd=now_ms() + 2500,
            purchaseWindow=120,
            backupMultiplier=3.0,
        )
        answers = await asyncio.gather(
            *(api.register(drop_id, u, 1, variants=r) for u, r in ranked.items())
        )
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        await log.phase(drop_id, "purchase", timeout=60)
    proof = (await api.proof(drop_id))["proof"]
    given, backups = proof["allocation"], proof["backupWinners"]
    assert len(backups) == 4
    # The first backup's only size is sold out: the promote passes over them (and anyone
    # else who ranked only that size) to the first backup who ranked the other.
    gone = ranked[backups[0]][0]
    other = "M" if gone == "S" else "S"
    buyer = next(w for w in proof["winners"] if given[w] == gone)
    assert (await api.buy(drop_id, buyer))["inventory"] == 1
    heir = next(b for b in backups if ranked[b] == [other])
    promoted = await api.client.post(f"/api/drop/{drop_id}/promote", headers=ADMIN)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["promoted"] == heir
    me = await api.me(drop_id, heir)
    assert (me["status"], me["variant"], me["promoted"]) == ("winner", other, True)
    assert (await api.me(drop_id, backups[0]))["status"] == "backup_winner"
    funnel = await sizes_of(api, drop_id)
    for size, sold in ((gone, 1), (other, 0)):
        row = funnel[size]
        assert (row["inventory"], row["rankedFirst"], row["rankedAny"]) == (1, 4, 4)
        assert (row["winners"], row["sold"], row["left"]) == (1, sold, 1 - sold)
        assert row["backups"] == sum(1 for b in backups if ranked[b] == [size])


async def test_the_console_edits_sizes_and_shows_the_funnel_per_size(
    api: DropApi, stack: Stack
) -> None:
    web = stack.start_app("web")
    drop_id, plain = uid("sizes-console"), uid("sizes-plain")
    await api.create(plain, registrationEnd=now_ms() + 60_000)
    async with httpx.AsyncClient(base_url=web, timeout=30) as console:
        assert (await console.post("/admin/login", data={"secret": ADMIN_SECRET})).status_code
        form = {
            "productName": "Sized Parka",
            "dropId": drop_id,
            "purchaseWindow": "120",
            "ticketPriceUnit": "1",
            "maxTicketsPerUser": "5",
            "backupMultiplier": "1.5",
            "variant-0-id": "S",
            "variant-0-label": "Small",
            "variant-0-inventory": "3",
            "variant-1-id": "M",
            "variant-1-label": "Medium",
            "variant-1-inventory": "2",
            "variant-2-id": "L",
            "variant-2-label": "",
            "variant-2-inventory": "1",
        }
        zero = await console.post(
            "/admin/drops", data={**form, "dropId": uid("x"), "variant-1-inventory": "0"}
        )
        assert zero.status_code == 400 and "variants" in zero.text
        assert 'value="Medium"' in zero.text  # the rows are kept for another try
        created = await console.post("/admin/drops", data=form)
        assert created.status_code == 303, created.text
        status = await api.status(drop_id)
        assert status["initialInventory"] == 6
        assert [(v["id"], v["label"], v["inventory"]) for v in status["variants"]] == [
            ("S", "Small", 3),
            ("M", "Medium", 2),
            ("L", "L", 1),
        ]
        for ranking in (["M", "L"], ["M"], ["S", "M"]):
            entered = await api.register(drop_id, uid("u"), 1, variants=ranking)
            assert entered.status_code == 200, entered.text
        funnel = await sizes_of(api, drop_id)
        counts = {s: (v["rankedFirst"], v["rankedAny"]) for s, v in funnel.items()}
        assert counts == {"S": (1, 1), "M": (2, 3), "L": (0, 1)}
        view = await console.get(f"/admin/drops/{drop_id}")
        assert view.status_code == 200
        row = view.text[view.text.index('data-size="M"') :]
        assert '<td class="mono" data-field="rankedFirst">2</td>' in row
        assert '<td class="mono" data-field="rankedAny">3</td>' in row
        assert "Funnel per size" not in (await console.get(f"/admin/drops/{plain}")).text
    # Only operators see how people ranked the sizes; a drop without sizes has no funnel.
    anonymous = await api.client.get(f"/api/admin/drop/{drop_id}/sizes")
    assert anonymous.status_code == 401
    none = await api.client.get(f"/api/admin/drop/{plain}/sizes", headers=ADMIN)
    assert none.status_code == 404 and "no sizes" in none.text, none.text
    async with httpx.AsyncClient(base_url=web, timeout=30) as stranger:
        refused = await stranger.get(f"/admin/drops/{drop_id}", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/admin"
