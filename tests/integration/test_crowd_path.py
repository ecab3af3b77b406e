"""The crowd path: registrations by group commit and unknown drop ids, on the real stack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from drop.domain import merkle
from tests.support.api_client import ADMIN, DropApi, events, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def ingress(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as client:
        yield client


async def drop_state(ingress: httpx.AsyncClient, drop_id: str) -> dict[str, object]:
    r = await ingress.post(f"/Drop/{drop_id}/getState", json=None)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_one_bad_entry_in_a_batch_fails_only_itself(
    api: DropApi, ingress: httpx.AsyncClient
) -> None:
    drop_id = uid("batch")
    await api.create(drop_id, registrationEnd=now_ms() + 60_000, maxTicketsPerUser=5)
    a, b, c = uid("u"), uid("u"), uid("u")
    entries = [
        {"userId": a, "tickets": 2},
        {"userId": "not an id!", "tickets": 1},
        {"userId": b, "tickets": 9},  # over this drop's maximum of 5
        {"userId": a, "tickets": 1},  # the same person twice in one batch
        {"userId": c, "tickets": 1},
    ]
    r = await ingress.post(f"/Drop/{drop_id}/registerBatch", json={"entries": entries})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["ok"]["position"] == 1
    assert results[1]["error"]["status"] == 400
    assert results[2]["error"]["code"] == "invalid_tickets"
    assert results[3]["error"]["code"] == "already_registered"
    assert results[4]["ok"]["position"] == 2
    state = await drop_state(ingress, drop_id)
    assert (state["participantCount"], state["totalTickets"]) == (2, 3)


async def test_a_crowd_gets_unique_gap_free_positions_in_few_batches(
    api: DropApi, ingress: httpx.AsyncClient
) -> None:
    drop_id = uid("crowd")
    await api.create(drop_id, registrationEnd=now_ms() + 60_000)
    users = [uid("c") for _ in range(200)]
    answers = await asyncio.gather(
        *(api.register(drop_id, u, 1 + n % 3) for n, u in enumerate(users))
    )
    assert all(r.status_code == 200 for r in answers), {r.status_code: r.text for r in answers}
    positions = sorted(r.json()["position"] for r in answers)
    assert positions == list(range(1, 201))
    state = await drop_state(ingress, drop_id)
    assert state["participantCount"] == 200
    assert state["totalTickets"] == sum(1 + n % 3 for n in range(200))
    # Each batch saves the drop once: fewer versions than people means they were batched.
    assert int(str(state["version"])) < 200


async def test_an_entry_after_registration_end_never_counts(api: DropApi, bus: Bus) -> None:
    drop_id = uid("late")
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, registrationEnd=now_ms() + 1500, purchaseWindow=60)
        assert (await api.register(drop_id, uid("early"), 1)).status_code == 200
        await log.phase(drop_id, "purchase")
    late = await api.register(drop_id, uid("late"), 1)
    assert late.status_code == 409 and late.json()["code"] == "registration_closed", late.text
    proof = (await api.proof(drop_id))["proof"]
    assert proof["participantCount"] == 1 and len(proof["participants"]) == 1


NO_INPUT = {"promoteBackup", "closePurchaseWindow", "getState", "getLotteryProof"}
POISON = [
    "startPurchase",
    "completePurchase",
    "runLottery",
    "promoteBackup",
    "closePurchaseWindow",
    "checkWinnerExpiry",
    "registerBatch",
    "getState",
    "getLotteryProof",
]


async def test_calls_on_a_drop_that_does_not_exist_end_at_once_and_leave_it_creatable(
    api: DropApi, ingress: httpx.AsyncClient
) -> None:
    drop_id = uid("future-drop")
    for handler in POISON:
        started = time.monotonic()
        body = None if handler in NO_INPUT else {"userId": "someone"}
        r = await ingress.post(f"/Drop/{drop_id}/{handler}", json=body)
        assert r.status_code == 404, (handler, r.status_code, r.text)
        assert time.monotonic() - started < 3.0, handler
    for path in ("lottery", "promote"):
        started = time.monotonic()
        r = await api.client.post(f"/api/drop/{drop_id}/{path}", headers=ADMIN)
        assert r.status_code == 404, (path, r.text)
        assert time.monotonic() - started < 3.0, path
    created = await api.create(drop_id, registrationEnd=now_ms() + 60_000)
    assert created["created"] is True
    assert (await api.register(drop_id, uid("u"), 1)).status_code == 200


@pytest.mark.parametrize(
    ("service", "handler", "body"),
    [
        ("Drop", "registerBatch", {"entries": "not a list of entries"}),
        ("Drop", "initialize", ["not", "a", "config"]),
        ("Drop", "initialize", {"inventory": 5, "registrationEnd": 10**20}),
        ("QueueAdmission", "joinBatch", {"joins": 5}),
        ("QueueAdmission", "markTokenUsed", ["not", "a", "request"]),
        ("UserRollover", "addRollover", {"dropId": "d"}),
    ],
)
async def test_malformed_durable_calls_end_at_once_with_400(
    ingress: httpx.AsyncClient, service: str, handler: str, body: object
) -> None:
    started = time.monotonic()
    r = await ingress.post(f"/{service}/{uid('k')}/{handler}", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert time.monotonic() - started < 3.0  # a hung or retried call takes far longer


async def test_a_published_proof_is_served_immutable_from_memory(api: DropApi, bus: Bus) -> None:
    drop_id = uid("proofs")
    users = [uid("p") for _ in range(12)]
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(drop_id, inventory=3, registrationEnd=now_ms() + 1500, purchaseWindow=60)
        await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
        await log.phase(drop_id, "purchase")
    path = f"/api/drop/{drop_id}/lottery-proof"
    answers = [await api.client.get(path) for _ in range(3)]  # loaded once, then from memory
    assert all(r.status_code == 200 for r in answers)
    assert len({r.content for r in answers}) == 1 and len({r.headers["etag"] for r in answers}) == 1
    lean = answers[-1]
    assert "immutable" in lean.headers["cache-control"]
    assert "participants" not in lean.json()["proof"]
    assert lean.json()["proof"]["participantCount"] == 12
    again = await api.client.get(path, headers={"If-None-Match": lean.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    full = await api.client.get(f"{path}?participants=true")
    assert sorted(p["userId"] for p in full.json()["proof"]["participants"]) == sorted(users)
    assert full.headers["etag"] != lean.headers["etag"]
    root = lean.json()["proof"]["participantMerkleRoot"]
    for user in users[:3]:
        r = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{user}")
        proof = r.json()["proof"]
        steps = merkle.proof_from_wire(proof["proof"], proof["proofSides"])
        assert proof["leaf"]["userId"] == user and merkle.verify_proof(
            proof["leafHash"], steps, root
        )
    stranger = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{uid('nobody')}")
    assert stranger.json() == {"available": False}
