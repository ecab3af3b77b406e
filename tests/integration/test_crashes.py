"""Crashes lose nothing: kill -9 the worker mid-draw and mid-purchase, restart Restate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from drop.domain import lottery
from drop.domain.beacon import BeaconRecord
from drop.verify import main as verify_main
from tests.support.api_client import ADMIN, DropApi, EventLog, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.replay import check_drop, object_state
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def expected_draw(proof: dict[str, object], inventory: int) -> lottery.LotteryProof:
    """What an uninterrupted run yields from the same secret and entries."""
    participants = [
        lottery.Participant(p["userId"], p["effectiveTickets"])  # type: ignore[index]
        for p in proof["participants"]  # type: ignore[attr-defined]
    ]
    beacon = BeaconRecord.from_wire(proof["beacon"])  # type: ignore[arg-type]
    return lottery.run_draw(
        str(proof["dropId"]), str(proof["secret"]), participants, inventory, 1.5, 0, beacon=beacon
    )


def assert_no_duplicates(log: EventLog) -> None:
    repeated = [i for i, n in Counter(log.ids()).items() if n > 1]
    assert not repeated, f"event ids delivered twice: {repeated}"


async def run_in_thread(fn: Callable[[], None]) -> None:
    """Restarts block while the server comes up; keep the event loop (and NATS) going."""
    await asyncio.to_thread(fn)


async def test_worker_killed_during_the_draw(api: DropApi, bus: Bus, stack: Stack) -> None:
    drop_id = uid("crash-draw")
    users = [uid("c") for _ in range(120)]
    registration_end = now_ms() + 4000
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=20, registrationEnd=registration_end, purchaseWindow=60)
        answers = await asyncio.gather(
            *(api.register(drop_id, u, 1 + n % 10) for n, u in enumerate(users))
        )
        assert all(r.status_code == 200 for r in answers), {r.status_code: r.text for r in answers}
        # Crash the worker as the draw timer fires, keep it down a moment, bring it back.
        await asyncio.sleep(max(0.0, (registration_end - now_ms()) / 1000))
        stack.procs["worker"].kill()
        await asyncio.sleep(1.0)
        await run_in_thread(partial(stack.restart, "worker"))
        drawn = await log.phase(drop_id, "purchase", timeout=60)
        proof = (await api.proof(drop_id))["proof"]
        for winner in proof["winners"]:
            await log.wait_for(
                lambda s, e, w=winner: s.endswith(f".user.{w}") and e["type"] == "winner"
            )
    assert drawn["winnerCount"] == 20
    again = expected_draw(proof, inventory=20)
    assert list(again.winners) == proof["winners"]
    assert list(again.backups) == proof["backupWinners"]
    winner_events = Counter(s for s, e in log.items if e["type"] == "winner")
    assert set(winner_events.values()) == {1}
    assert_no_duplicates(log)


async def test_worker_killed_during_a_purchase(api: DropApi, bus: Bus, stack: Stack) -> None:
    drop_id = uid("crash-buy")
    users = [uid("p") for _ in range(6)]
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=3, registrationEnd=now_ms() + 2500, purchaseWindow=60)
        await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
        await log.phase(drop_id, "purchase")
        winners = (await api.proof(drop_id))["proof"]["winners"]
        tokens = {
            w: (await api.start_purchase(drop_id, w)).json()["purchaseToken"] for w in winners
        }
        buying = asyncio.gather(*(api.purchase(drop_id, w, tokens[w]) for w in winners))
        for _ in range(3):
            await asyncio.sleep(0.005)  # let the calls leave; the crash lands while they run
        stack.procs["worker"].kill()
        done_before_crash = sum(e["type"] == "purchased" for _, e in log.items)
        await run_in_thread(partial(stack.restart, "worker"))
        results = await buying
        await log.phase(drop_id, "completed", timeout=60)
        # Each buyer's object says `purchased` on its own path, which may finish after the
        # drop's last snapshot.
        for winner in winners:
            await log.wait_for(
                lambda s, e, w=winner: s.endswith(f".user.{w}") and e["type"] == "purchased"
            )
    assert done_before_crash < 3, "the crash came after every purchase had finished"
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    assert sorted(r.json()["orderId"] for r in results) == [f"{drop_id}-{n}" for n in (1, 2, 3)]
    assert (await api.status(drop_id))["inventory"] == 0
    purchased = Counter(s for s, e in log.items if e["type"] == "purchased")
    assert sorted(purchased) == sorted(f"drop.{drop_id}.user.{w}" for w in winners)
    assert set(purchased.values()) == {1}
    assert_no_duplicates(log)


async def test_a_crash_right_after_the_last_purchase_never_oversells(
    api: DropApi, bus: Bus, stack: Stack
) -> None:
    """The oversell once found under crashes, scaled down: a backup promoted (one purchase
    right more than items), all winners but one buy, the last buys and the worker is killed
    0-50 ms later, coming back with a new hash seed. Exactly `inventory` orders with
    distinct ids, none left, the promoted extra winner is told sold out, and the drop
    answers within 5 s of the worker's return."""
    drop_id, inventory = uid("oversell"), 10
    users = [uid("o") for _ in range(30)]
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(
            drop_id,
            inventory=inventory,
            registrationEnd=now_ms() + 3000,
            purchaseWindow=120,
            backupMultiplier=3,
        )
        answers = await asyncio.gather(*(api.register(drop_id, u, 1) for u in users))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        await log.phase(drop_id, "purchase", timeout=60)
    proof = (await api.proof(drop_id))["proof"]
    winners, extra = proof["winners"], proof["backupWinners"][0]
    promoted = await api.client.post(f"/api/drop/{drop_id}/promote", headers=ADMIN)
    assert promoted.json()["promoted"] == extra, promoted.text
    tokens = {}
    for user in [*winners, extra]:
        started = await api.start_purchase(drop_id, user)
        assert started.status_code == 200, started.text
        tokens[user] = started.json()["purchaseToken"]
    for user in winners[:-1]:
        assert (await api.purchase(drop_id, user, tokens[user])).status_code == 200
    last = winners[-1]
    buying = asyncio.ensure_future(api.purchase(drop_id, last, tokens[last]))
    await asyncio.sleep(random.uniform(0, 0.05))  # where the crash lands, not a wait
    stack.procs["worker"].kill()
    await run_in_thread(partial(stack.restart, "worker"))
    back = time.monotonic()
    late = await api.purchase(drop_id, extra, tokens[extra])
    answered_in = time.monotonic() - back
    bought = await buying
    assert bought.status_code == 200, bought.text
    assert late.status_code == 410 and late.json()["code"] == "sold_out", late.text
    assert answered_in < 5, f"the drop answered {answered_in:.1f} s after the worker returned"
    async with httpx.AsyncClient(base_url=stack.admin_url, timeout=10) as admin:
        st = await object_state(admin, "Drop", drop_id)
    check_drop(st, inventory)
    ids = [order_id for order_id, _ in st["orders"]]
    assert sorted(ids) == sorted(f"{drop_id}-{n}" for n in range(1, inventory + 1))
    assert sorted(u for _, u in st["orders"]) == sorted(winners)
    assert st["core"]["inventory"] == 0
    assert (await api.status(drop_id))["inventory"] == 0


async def test_restate_restarted_during_registration(api: DropApi, bus: Bus, stack: Stack) -> None:
    drop_id = uid("crash-rs")
    early, late = [uid("e") for _ in range(5)], [uid("l") for _ in range(5)]
    registration_end = now_ms() + 12_000
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(drop_id, inventory=3, registrationEnd=registration_end, purchaseWindow=60)
        for user in early:
            assert (await api.register(drop_id, user, 2)).status_code == 200
        await run_in_thread(partial(stack.restart, "restate"))
        for user in late:
            assert (await api.register(drop_id, user, 2)).status_code == 200
        drawn = await log.phase(drop_id, "purchase", timeout=60)
    assert drawn["participantCount"] == 10
    proof = (await api.proof(drop_id))["proof"]
    fired_late_ms = proof["timestamp"] - registration_end
    assert 0 <= fired_late_ms < 3000, f"draw fired {fired_late_ms} ms after registrationEnd"


@pytest.mark.parametrize("victim", ["api", "worker", "restate", "nats"])
async def test_a_crash_in_the_middle_of_batches_loses_no_acknowledged_entry(
    victim: str, api: DropApi, bus: Bus, stack: Stack, tmp_path: Path
) -> None:
    """Registrations stream in; one part of the stack is killed (-9) and comes back. Every
    registration that was answered 200 is in the draw exactly once, and the draw is the
    one its secret and entries give."""
    drop_id = uid(f"crash-batch-{victim}")
    acked: list[str] = []
    stop, reached, target = asyncio.Event(), asyncio.Event(), [60]

    async def crowd(worker: int) -> None:
        n = 0
        while not stop.is_set():
            user = f"{victim[:2]}{worker}x{n}-{uid('u')[-6:]}"
            n += 1
            try:
                r = await api.register(drop_id, user, 1 + n % 4)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 200:
                acked.append(user)
                if len(acked) >= target[0]:
                    reached.set()
            else:
                await asyncio.sleep(0.05)

    registration_end = now_ms() + 16_000
    async with events(bus, f"drop.{drop_id}.state") as log:
        await api.create(drop_id, inventory=10, registrationEnd=registration_end, purchaseWindow=60)
        clients = [asyncio.create_task(crowd(w)) for w in range(20)]
        await asyncio.wait_for(reached.wait(), 30)
        before = len(acked)
        await run_in_thread(partial(stack.restart, victim, kill=True))
        after_restart = len(acked)
        reached.clear()
        target[0] = after_restart + 60
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reached.wait(), (registration_end - now_ms() - 2000) / 1000)
        stop.set()
        await asyncio.gather(*clients)
        drawn = await log.phase(drop_id, "purchase", timeout=90)
    assert before >= 60 and len(acked) > after_restart, (before, after_restart, len(acked))
    proof = (await api.proof(drop_id))["proof"]
    entered = [p["userId"] for p in proof["participants"]]
    assert len(entered) == len(set(entered)) == drawn["participantCount"]
    assert set(acked) <= set(entered), set(acked) - set(entered)
    again = expected_draw(proof, inventory=10)
    assert list(again.winners) == proof["winners"]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    assert verify_main([str(path)]) == 0


async def test_the_drops_list_follows_drops_after_a_nats_restart(
    api: DropApi, stack: Stack
) -> None:
    """The api lists drops from a KV watch. A restarted nats-server forgets the watch's
    consumer, so the watch must start again or the list stops moving."""
    drop_id = uid("crash-index")
    await api.create(drop_id, inventory=5, registrationEnd=now_ms() + 3_600_000)
    await run_in_thread(partial(stack.restart, "nats", kill=True))

    user = uid("index-reader")

    async def registered() -> None:
        answer = await api.register(drop_id, user, 1)
        # A try whose answer was lost to the restart may have entered already.
        assert answer.status_code == 200 or "already_registered" in answer.text, answer.text

    await eventually_async(registered, what="a registration once NATS is back", timeout=30)

    async def listed() -> None:
        active = (await api.client.get("/api/drops/active")).json()["drops"]
        mine = [d for d in active if d["dropId"] == drop_id]
        assert mine and mine[0]["participantCount"] == 1, mine

    await eventually_async(listed, what="the new entry in /api/drops/active", timeout=15)
