"""Webhooks on the real stack, received by a real HTTP server that verifies every
signature with the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from devtools import devstack
from drop.adapters.nats_bus import Bus
from drop.webhooks import catalog
from tests.support.api_client import ADMIN, DropApi, EventLog, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack, start_api
from tests.support.webhook_receiver import Receiver, bodies_once, started

pytestmark = pytest.mark.integration

ALL = list(catalog.EVENT_TYPES)
Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def hooks(api: DropApi) -> AsyncIterator[Register]:
    """Adds endpoints for a receiver; every one added is removed after the test, so the
    session's other drops are not sent to it."""
    added: list[str] = []

    async def add(receiver: Receiver, kinds: list[str] = ALL) -> dict[str, Any]:
        r = await api.client.post(
            "/api/webhooks", json={"url": receiver.url, "events": kinds}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        answer = dict(r.json())
        receiver.secret = answer["secret"]
        added.append(answer["id"])
        return answer

    yield add
    for endpoint_id in added:
        await api.client.delete(f"/api/webhooks/{endpoint_id}", headers=ADMIN)


async def run_in_thread(fn: Callable[[], None]) -> None:
    await asyncio.to_thread(fn)


def outcomes(log: EventLog, drop_id: str) -> Counter[tuple[str, str]]:
    """What the drop's published events say happened, as (webhook type, userId) pairs,
    each counted once: the webhooks a subscriber to everything must get."""
    seen: set[tuple[str, str]] = set()
    for subject, event in log.items:
        data = event["data"]
        if subject == f"drop.{drop_id}.state":
            phase = data["phase"]
            if phase == "registration" and data["participantCount"] == 0:
                seen.add(("drop.created", ""))
            if phase != "registration":
                seen.add(("drop.registration_closed", ""))
            if phase in ("purchase", "completed"):
                seen.add(("drop.drawn", ""))
            if phase == "completed":
                seen.add(("drop.completed", ""))
        elif data.get("status") == "winner":
            kind = "backup.promoted" if data["promoted"] else "winner.selected"
            seen.add((kind, data["userId"]))
        elif data.get("status") == "expired":
            seen.add(("winner.lapsed", data["userId"]))
        elif data.get("status") == "purchased":
            seen.add(("order.completed", data["userId"]))
    return Counter(seen)


def heard(receiver: Receiver, drop_id: str) -> Counter[tuple[str, str]]:
    """(type, userId) of each distinct webhook-id the receiver got for `drop_id`."""
    found: Counter[tuple[str, str]] = Counter()
    for payload in bodies_once(receiver).values():
        if payload["data"]["dropId"] == drop_id:
            found[(payload["type"], payload["data"].get("userId", ""))] += 1
    return found


async def deliveries_of(api: DropApi, endpoint_id: str, drop_id: str) -> list[dict[str, Any]]:
    """The endpoint's delivery records of `drop_id`'s events (the endpoint also hears the
    drops other tests leave running on the shared stack)."""
    listed = await api.client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
    return [r for r in listed.json()["deliveries"] if r["payload"]["data"]["dropId"] == drop_id]


async def all_delivered(
    api: DropApi, endpoint_id: str, drop_id: str, count: int
) -> list[dict[str, Any]]:
    records = await deliveries_of(api, endpoint_id, drop_id)
    assert len(records) == count, records
    assert {d["status"] for d in records} == {"delivered"}, records
    return records


# --- the admin API ------------------------------------------------------------------------


async def test_endpoints_are_added_listed_and_removed(api: DropApi, hooks: Register) -> None:
    receiver = Receiver(devstack.free_port())
    added = await hooks(receiver, ["drop.drawn", "winner.selected"])
    assert added["id"].startswith("ep_") and added["secret"].startswith("whsec_")
    assert added["events"] == ["drop.drawn", "winner.selected"]
    listed = (await api.client.get("/api/webhooks", headers=ADMIN)).json()["webhooks"]
    mine = [e for e in listed if e["id"] == added["id"]]
    assert mine and "secret" not in mine[0] and mine[0]["url"] == receiver.url
    deliveries = await api.client.get(f"/api/webhooks/{added['id']}/deliveries", headers=ADMIN)
    assert deliveries.status_code == 200 and deliveries.json() == {"deliveries": []}
    gone = await api.client.delete(f"/api/webhooks/{added['id']}", headers=ADMIN)
    assert gone.status_code == 200, gone.text
    again = await api.client.delete(f"/api/webhooks/{added['id']}", headers=ADMIN)
    assert again.status_code == 404 and again.json()["code"] == "webhook_not_found"
    listed = (await api.client.get("/api/webhooks", headers=ADMIN)).json()["webhooks"]
    assert added["id"] not in {e["id"] for e in listed}


async def test_bad_input_is_refused_with_a_reason(api: DropApi, stack: Stack) -> None:
    post = partial(api.client.post, "/api/webhooks", headers=ADMIN)
    unknown = await post(json={"url": "http://127.0.0.1:9/hook", "events": ["drop.exploded"]})
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_event"
    assert "drop.exploded" in unknown.json()["error"]
    scheme = await post(json={"url": "ftp://127.0.0.1/hook", "events": ["drop.drawn"]})
    assert scheme.status_code == 400 and "http" in scheme.json()["error"]
    nothing = await post(json={"url": "http://127.0.0.1:9/hook", "events": []})
    assert nothing.status_code == 400
    assert nothing.json()["details"][0]["path"] == "events"
    no_admin = await api.client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["drop.drawn"]}
    )
    assert no_admin.status_code == 401
    unknown_id = "ep_" + "0" * 24
    for path in (f"{unknown_id}/deliveries", f"{unknown_id}/deliveries/msg_{'0' * 32}/retry"):
        method = api.client.post if path.endswith("retry") else api.client.get
        r = await method(f"/api/webhooks/{path}", headers=ADMIN)
        assert r.status_code == 404, r.text
    malformed = await api.client.get("/api/webhooks/nope/deliveries", headers=ADMIN)
    assert malformed.status_code == 400

    # With private addresses refused (production's default): loopback, private, link-local.
    url, proc = start_api(stack, "api-webhooks-strict", {"WEBHOOK_ALLOW_PRIVATE_URLS": "false"})
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as strict:
            for target, kind in (
                ("http://127.0.0.1:8080/hook", "loopback"),
                ("http://localhost/hook", "loopback"),
                ("https://10.1.2.3/hook", "private"),
                ("http://169.254.169.254/latest/meta-data", "link-local"),
                ("http://[::1]/hook", "loopback"),
                ("http://0.0.0.0/hook", "unspecified"),
            ):
                r = await strict.post(
                    "/api/webhooks", json={"url": target, "events": ALL}, headers=ADMIN
                )
                assert r.status_code == 400, (target, r.text)
                assert r.json()["code"] == "webhook_url_refused" and kind in r.json()["error"]
    finally:
        proc.stop()


# --- delivery -----------------------------------------------------------------------------


async def test_every_event_once_per_webhook_id_across_a_worker_kill(
    api: DropApi, bus: Bus, stack: Stack, hooks: Register
) -> None:
    drop_id = uid("hooks-kill")
    users = [uid("h") for _ in range(24)]
    # A slow receiver keeps deliveries in flight when the worker dies.
    receiver = await started(devstack.free_port(), "ok")
    receiver.delay = 0.3
    endpoint = await hooks(receiver)
    try:
        async with events(bus, f"drop.{drop_id}.>") as log:
            # The window outlasts the worker's restart on a loaded machine: the winners
            # bought below must still be inside theirs.
            await api.create(
                drop_id, inventory=5, registrationEnd=now_ms() + 3000, purchaseWindow=15
            )
            answers = await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
            assert all(r.status_code == 200 for r in answers)
            await log.phase(drop_id, "purchase", timeout=60)
            await receiver.wait_for(
                lambda r: any(kind == "winner.selected" for kind, _ in heard(r, drop_id)), 60
            )
            stack.procs["worker"].kill()
            await run_in_thread(partial(stack.restart, "worker"))
            proof = (await api.proof(drop_id))["proof"]
            bought = proof["winners"][:2]
            for winner in bought:
                await api.buy(drop_id, winner)
            await log.phase(drop_id, "completed", timeout=90)

            def complete(r: Receiver) -> bool:
                return heard(r, drop_id) == outcomes(log, drop_id)

            await receiver.wait_for(complete, 120)
        expected = outcomes(log, drop_id)
    finally:
        await receiver.stop()
    assert not receiver.refused, receiver.refused
    assert heard(receiver, drop_id) == expected
    kinds = {kind for kind, _ in expected}
    assert kinds == set(ALL), f"the drop should make every kind of event: {kinds}"
    assert set(expected.values()) == {1}
    # The endpoint also hears the drops other tests leave running on the shared stack.
    payloads = [p for p in bodies_once(receiver).values() if p["data"]["dropId"] == drop_id]
    drawn = [p for p in payloads if p["type"] == "drop.drawn"]
    assert len(drawn) == 1 and drawn[0]["data"]["proofUrl"].endswith(
        f"/api/drop/{drop_id}/lottery-proof"
    )
    orders = {p["data"]["userId"]: p["data"] for p in payloads if p["type"] == "order.completed"}
    assert set(orders) == set(bought)
    assert sorted(o["orderId"] for o in orders.values()) == [f"{drop_id}-1", f"{drop_id}-2"]
    assert all(o["purchasedAt"] > 0 for o in orders.values())
    # Each record is written once the receiver's answer is in, a moment after it counted it.
    records = await eventually_async(
        partial(all_delivered, api, endpoint["id"], drop_id, sum(expected.values())),
        what="every delivery recorded as delivered",
    )
    assert {d["responseCode"] for d in records} == {204}


async def test_a_hanging_or_failing_endpoint_does_not_delay_the_draw(
    api: DropApi, bus: Bus, hooks: Register
) -> None:
    async def draw(drop_id: str, before_close: Callable[[], Awaitable[None]]) -> float:
        """Seconds from the close of registration to the last winner told."""
        users = [uid("d") for _ in range(40)]
        # Time for the 40 entries on a busy machine: what is measured starts at the close.
        closes = now_ms() + 6000
        async with events(bus, f"drop.{drop_id}.>") as log:
            await api.create(drop_id, inventory=8, registrationEnd=closes, purchaseWindow=30)
            answers = await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
            assert all(r.status_code == 200 for r in answers), {r.text for r in answers}
            await before_close()
            drawn = await log.phase(drop_id, "purchase", timeout=60)
            assert drawn["winnerCount"] == 8
            winners = (await api.proof(drop_id))["proof"]["winners"]
            for w in winners:
                await log.wait_for(
                    lambda s, e, w=w: s.endswith(f".user.{w}") and e["type"] == "winner"
                )
        return (now_ms() - closes) / 1000

    async def nothing() -> None:
        return None

    baseline = await draw(uid("hooks-none"), nothing)
    hanging = await started(devstack.free_port(), "hang")
    failing = await started(devstack.free_port(), "fail")
    try:
        await hooks(hanging)
        await hooks(failing)

        async def endpoints_busy() -> None:
            # Both already hold drop.created: one unanswered, one answered 500.
            await hanging.wait_for(lambda r: r.holding >= 1, 30)
            await failing.wait_for(lambda r: len(r.received) >= 1, 30)

        with_hooks = await draw(uid("hooks-stuck"), endpoints_busy)
        # The hanging endpoint never answered: nothing waited for it.
        assert not hanging.release.is_set()
    finally:
        await hanging.stop()
        await failing.stop()
    print(f"draw: {baseline:.2f}s without endpoints, {with_hooks:.2f}s with two stuck ones")
    assert with_hooks <= baseline * 2 + 2.0, (baseline, with_hooks)


async def test_an_endpoint_down_two_minutes_gets_its_backlog(
    api: DropApi, bus: Bus, hooks: Register
) -> None:
    port = devstack.free_port()
    receiver = Receiver(port)  # not listening yet: the endpoint is down
    endpoint = await hooks(receiver, ["drop.created", "drop.drawn", "winner.selected"])
    drop_id = uid("hooks-down")
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=3, registrationEnd=now_ms() + 2000, purchaseWindow=300)
        answers = await asyncio.gather(*(api.register(drop_id, uid("w"), 1) for _ in range(6)))
        assert all(r.status_code == 200 for r in answers)
        await log.phase(drop_id, "purchase", timeout=60)
    winners = (await api.proof(drop_id))["proof"]["winners"]
    listed = f"/api/webhooks/{endpoint['id']}/deliveries"
    # The scenario itself: the endpoint stays down for two minutes.
    down_until = time.monotonic() + 120
    await asyncio.sleep(60)
    during = await deliveries_of(api, endpoint["id"], drop_id)
    assert len(during) == 2 + len(winners)
    assert {d["status"] for d in during} == {"pending"}
    assert all(d["attempts"] > 1 and d["responseCode"] is None for d in during)
    busy = await api.client.post(f"{listed}/{during[0]['id']}/retry", headers=ADMIN)
    assert busy.status_code == 409 and busy.json()["code"] == "delivery_pending"
    await asyncio.sleep(max(0.0, down_until - time.monotonic()))
    await receiver.start()
    back = time.monotonic()
    try:
        expected = {("drop.created", ""), ("drop.drawn", "")} | {
            ("winner.selected", w) for w in winners
        }
        await receiver.wait_for(lambda r: set(heard(r, drop_id)) == expected, 120)
        caught_up = time.monotonic() - back
    finally:
        await receiver.stop()
    assert not receiver.refused
    print(f"backlog of {len(expected)} delivered {caught_up:.1f}s after the endpoint came back")
    await eventually_async(
        partial(all_delivered, api, endpoint["id"], drop_id, len(expected)),
        what="the backlog recorded as delivered",
    )
