"""Kill at every step: the worker dies right before journal step k of a representative
invocation, comes back with a new PYTHONHASHSEED, and the invocation completes with the
drop's, the waiting room's and the user's records consistent (nothing lost, nothing twice).

The hook is `DROP_TEST_CRASH_AT` (apps/worker/crash_hook.py). Every step k = 1..n is covered
for completePurchase and closePurchaseWindow, every other step for runLottery (n is found
by going on until a plan is left unused: the invocation had fewer steps). The others get a
spread of k values: registerBatch, startPurchase, the sell-out purchase, promoteBackup,
checkWinnerExpiry (lapse and promotion), Participant.settle, joinBatch, useTokens and the
admission tick. Each crash
costs a worker restart (about 3 s), which is what bounds this file's run time.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.worker.queue.state import MIN_UNLISTED
from drop.adapters.nats_bus import Bus
from drop.contracts import QueueConfig
from drop.events import QUEUE_TOKENS_BUCKET
from tests.support.api_client import ADMIN, EventLog, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.replay import (
    CRASH_ENV,
    Rig,
    check_drop,
    check_queue,
    process_exit,
    with_prefix,
)
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration

Case = Callable[[int], Awaitable[tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]]]


@pytest.fixture(scope="module")
async def bus(rig: Rig) -> AsyncIterator[Bus]:
    b = await rig.stack.connect_bus("replay-tests")
    yield b
    await b.close()


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    root: Path = tmp_path_factory.mktemp("replay")
    stack = Stack(root, extra_env={CRASH_ENV: str(root / "crash-at")})
    try:
        await asyncio.to_thread(stack.start_servers)
        await asyncio.to_thread(stack.start_app, "worker")
        async with (
            httpx.AsyncClient(base_url=stack.ingress_url, timeout=300) as ingress,
            httpx.AsyncClient(base_url=stack.admin_url, timeout=10) as admin,
        ):
            yield Rig(stack, ingress, admin)
    finally:
        stack.stop()


async def at_steps(rig: Rig, handler: str, steps: range, case: Case) -> list[int]:
    """Crash `handler` before each step in `steps` (a fresh invocation each) until one
    outlives its plan; every invocation's result is checked. The steps that crashed."""
    crashed_at: list[int] = []
    for k in steps:
        key, action, check = await case(k)
        crashed, answer = await rig.crash_at(handler, k, key, action)
        await check(answer)
        if not crashed:
            return crashed_at
        crashed_at.append(k)
    raise AssertionError(f"{handler} still had steps after {steps}")


async def together(rig: Rig, handler: str, steps: range, case: Case) -> list[int]:
    """Crash `handler` before each step in `steps`, each in its own invocation on its own
    key, all at once (one restart per crash, the setup waited out once). The steps that
    crashed, after every invocation's result is checked."""
    prepared = await asyncio.gather(*(case(k) for k in steps))
    plans = [f"{handler}:{k}@{key}" for k, (key, _, _) in zip(steps, prepared, strict=True)]
    fired, answers = await rig.crash_all(plans, [action for _, action, _ in prepared])
    for (_, _, check), answer in zip(prepared, answers, strict=True):
        await check(answer)
    return [k for k, plan in zip(steps, plans, strict=True) if plan in fired]


def every_step(crashed: list[int], steps: range) -> None:
    """Every planned step up to n crashed, and a later one was left: past the last step."""
    n = len(crashed)
    assert crashed == list(steps[:n]) and n < len(steps), (crashed, steps)


async def new_drop(rig: Rig, users: int, inventory: int, **config: Any) -> tuple[str, list[str]]:
    """A drop with `users` entrants (registration still open unless `end_in_ms` is given)."""
    drop_id, start = uid("rp"), now_ms()
    end = start + int(config.pop("end_in_ms", 600_000))
    body = {
        "dropId": drop_id,
        "inventory": inventory,
        "registrationStart": start,
        "registrationEnd": end,
        "purchaseWindow": 600,
        **config,
    }
    await rig.ok(f"Drop/{drop_id}/initialize", body)
    people = [uid("u") for _ in range(users)]
    if people:
        entries = [{"userId": u, "tickets": 3 + n % 3} for n, u in enumerate(people)]
        answer = await rig.ok(f"Drop/{drop_id}/registerBatch", {"entries": entries})
        if any("registration_closed" in str(r) for r in answer["results"]):
            raise RegistrationClosed(drop_id)
        assert all("ok" in r for r in answer["results"]), answer
    return drop_id, people


class RegistrationClosed(Exception):
    """A short registration window closed before the entries landed (a loaded machine)."""


async def drawn_drop(
    rig: Rig, users: int, inventory: int, **config: Any
) -> tuple[str, dict[str, Any]]:
    """A drop in its purchase phase: (id, its state). The window is short so the timed draw
    comes soon; on a machine too loaded to register within it, a longer one is tried."""
    for window_ms in (1000, 4000, 16_000):
        try:
            drop_id, _ = await new_drop(rig, users, inventory, end_in_ms=window_ms, **config)
            break
        except RegistrationClosed:
            continue
    else:
        raise AssertionError("the entries never landed within a 16 s registration window")
    await rig.ok(f"Drop/{drop_id}/runLottery", {"trigger": "timer"})
    return drop_id, await rig.state("Drop", drop_id)


async def drop_is_sound(rig: Rig, drop_id: str, initial: int) -> dict[str, Any]:
    assert await rig.stuck(drop_id) == []
    st = await rig.state("Drop", drop_id)
    check_drop(st, initial)
    return st


async def test_register_batch(rig: Rig) -> None:
    drop_id, _ = await new_drop(rig, 0, 3)
    entered: list[str] = []

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        pair = [uid("r"), uid("r")]
        entries = [{"userId": u, "tickets": 2} for u in pair]

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert [("ok" in x) for x in r.json()["results"]] == [True, True], r.text
            entered.extend(pair)
            st = await drop_is_sound(rig, drop_id, 3)
            positions = with_prefix(st, "user:")
            assert sorted(positions, key=positions.__getitem__) == entered

        return drop_id, rig.call(f"Drop/{drop_id}/registerBatch", {"entries": entries}), check

    crashed = await at_steps(rig, "Drop/registerBatch", range(1, 40, 4), case)
    assert len(crashed) >= 2, crashed


async def test_start_and_complete_purchase_at_every_step(rig: Rig) -> None:
    drop_id, st = await drawn_drop(rig, 30, 24)
    winners = list(st["proof"]["winners"])
    tokens: dict[str, str] = {}

    async def start_case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        user = winners[k - 1]

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            tokens[user] = r.json()["purchaseToken"]
            st = await drop_is_sound(rig, drop_id, 24)
            assert st[f"tok:{user}"]["token"] == tokens[user]

        return drop_id, rig.call(f"Drop/{drop_id}/startPurchase", {"userId": user}), check

    started = await at_steps(rig, "Drop/startPurchase", range(1, 20, 3), start_case)
    assert len(started) >= 2, started
    sold: list[str] = []

    async def buy_case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        user = winners[k - 1]
        if user not in tokens:
            tokens[user] = (await rig.ok(f"Drop/{drop_id}/startPurchase", {"userId": user}))[
                "purchaseToken"
            ]
        body = {"userId": user, "purchaseToken": tokens[user]}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            sold.append(user)
            assert r.json()["orderId"] == f"{drop_id}-{len(sold)}"
            st = await drop_is_sound(rig, drop_id, 24)
            assert [o[1] for o in st["orders"]] == sold

        return drop_id, rig.call(f"Drop/{drop_id}/completePurchase", body), check

    steps = range(1, 24)
    bought = await at_steps(rig, "Drop/completePurchase", steps, buy_case)
    every_step(bought, steps)


async def test_sell_out_purchase_and_promotion(rig: Rig) -> None:
    """The last item: the purchase ends the drop (its settling sent in the same step)."""

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        drop_id, st = await drawn_drop(rig, 4, 1, backupMultiplier=3.0)
        backups = list(st["backups"])
        promoted = await rig.ok(f"Drop/{drop_id}/promoteBackup")
        assert promoted["promoted"] == backups[0]
        user = st["proof"]["winners"][0]
        token = (await rig.ok(f"Drop/{drop_id}/startPurchase", {"userId": user}))["purchaseToken"]
        body = {"userId": user, "purchaseToken": token}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert r.json()["phase"] == "completed"
            await drop_is_sound(rig, drop_id, 1)
            late = await rig.call(f"Drop/{drop_id}/startPurchase", {"userId": backups[0]})
            assert late.status_code == 410 and "sold_out" in late.text, late.text

        return drop_id, rig.call(f"Drop/{drop_id}/completePurchase", body), check

    crashed = await together(rig, "Drop/completePurchase", range(2, 40, 6), case)
    assert len(crashed) >= 2, crashed


async def test_promote_backup(rig: Rig) -> None:
    drop_id, st = await drawn_drop(rig, 12, 2, backupMultiplier=3.0)
    backups = list(st["backups"])
    promoted: list[str] = []

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            promoted.append(r.json()["promoted"])
            st = await drop_is_sound(rig, drop_id, 2)
            assert promoted == backups[: len(promoted)]
            assert st["core"]["nextBackup"] == len(promoted)
            assert all(st[f"winner:{u}"]["promoted"] for u in promoted)

        return drop_id, rig.call(f"Drop/{drop_id}/promoteBackup"), check

    crashed = await at_steps(rig, "Drop/promoteBackup", range(1, 20, 3), case)
    assert len(crashed) >= 2, crashed


async def test_the_draw_at_every_step(rig: Rig) -> None:
    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        drop_id, _ = await new_drop(rig, 5, 2, end_in_ms=3000)

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert r.json()["phase"] == "purchase"
            st = await drop_is_sound(rig, drop_id, 2)
            winners = st["proof"]["winners"]
            assert sorted(with_prefix(st, "winner:")) == sorted(winners)
            assert st["drawn"] == [*winners, *st["backups"]]

        return drop_id, rig.call(f"Drop/{drop_id}/runLottery", {"trigger": "timer"}), check

    # Every other step (n is about 28; one restart per crash is the cost).
    steps = range(1, 34, 2)
    crashed = await together(rig, "Drop/runLottery", steps, case)
    every_step(crashed, steps)


async def test_the_close_at_every_step(rig: Rig) -> None:
    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        drop_id, st = await drawn_drop(rig, 4, 2)
        buyer = st["proof"]["winners"][0]
        token = (await rig.ok(f"Drop/{drop_id}/startPurchase", {"userId": buyer}))["purchaseToken"]
        await rig.ok(f"Drop/{drop_id}/completePurchase", {"userId": buyer, "purchaseToken": token})

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert r.json()["phase"] == "completed"
            await drop_is_sound(rig, drop_id, 2)
            status = await rig.ok(f"Participant/{drop_id}:{buyer}/getStatus")
            assert status["status"] == "purchased"

        return drop_id, rig.call(f"Drop/{drop_id}/closePurchaseWindow"), check

    steps = range(1, 16)
    crashed = await together(rig, "Drop/closePurchaseWindow", steps, case)
    every_step(crashed, steps)


async def test_lapse_and_promotion(rig: Rig) -> None:
    """checkWinnerExpiry at a winner's deadline: the lapse, and the next backup promoted."""

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        drop_id, st = await drawn_drop(rig, 4, 1, backupMultiplier=3.0, purchaseWindow=1)
        lapsed, backup = st["proof"]["winners"][0], st["backups"][0]
        body = {"userId": lapsed}

        async def lapse() -> httpx.Response:
            # The winner's own timer may come first; either is the invocation planned.
            deadline = st[f"winner:{lapsed}"]["deadline"]
            await asyncio.sleep(max(0.0, (deadline - now_ms()) / 1000))
            return await rig.call(f"Drop/{drop_id}/checkWinnerExpiry", body)

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            after = await drop_is_sound(rig, drop_id, 1)
            assert after[f"winner:{lapsed}"]["state"] == "expired"
            # Promoted only while the drop's purchase phase lasts (a long crash outlives it).
            if after["core"]["nextBackup"] == 1:
                assert after[f"winner:{backup}"]["promoted"] is True
            else:
                assert f"winner:{backup}" not in after

        return drop_id, lapse(), check

    crashed = await together(rig, "Drop/checkWinnerExpiry", range(1, 30, 4), case)
    assert len(crashed) >= 2, crashed


async def test_participant_settle(rig: Rig) -> None:
    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        drop_id, st = await drawn_drop(rig, 3, 1)
        winner = st["proof"]["winners"][0]
        key = f"{drop_id}:{winner}"

        # The draw's word to the winner is queued on their object before this settle.
        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert await rig.stuck(key) == []
            record = await rig.state("Participant", key)
            assert record["settled"] is True and record["record"]["status"] == "expired"
            credits = await rig.state("UserRollover", winner)
            assert credits["balance"] == credits[f"credited:{drop_id}"]["balance"]
            again = await rig.ok(f"Participant/{key}/settle", {"bought": False})
            assert again is None and await rig.state("UserRollover", winner) == credits

        return key, rig.call(f"Participant/{key}/settle", {"bought": False}), check

    crashed = await together(rig, "Participant/settle", range(1, 20, 3), case)
    assert len(crashed) >= 2, crashed


def queue_config(**over: Any) -> dict[str, Any]:
    cfg = QueueConfig(
        rate=1000, max_concurrent=100, ready_window_s=600, max_age_s=600, max_per_ip=50
    )
    return cfg.model_copy(update=over).wire()


def joins(n: int) -> list[dict[str, str]]:
    ip = secrets.token_hex(16)
    return [{"fingerprintHash": secrets.token_hex(16), "ipHash": ip} for _ in range(n)]


async def all_ready(log: EventLog, n: int) -> None:
    await log.wait_for(lambda _, e: sum(x["type"] == "queue_ready" for _, x in log.items) >= n, 60)


async def test_queue_join_batch_and_tick(rig: Rig, bus: Bus) -> None:
    drop_id = uid("rq")
    held: list[str] = []

    async def join_case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        body = {"joins": joins(2), "config": queue_config()}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            tokens = [x["ok"]["token"] for x in r.json()["results"]]
            held.extend(tokens)
            check_queue(await rig.state("QueueAdmission", drop_id))

        return drop_id, rig.call(f"QueueAdmission/{drop_id}/joinBatch", body), check

    crashed = await at_steps(rig, "QueueAdmission/joinBatch", range(1, 30, 5), join_case)
    assert len(crashed) >= 2, crashed

    async def tick_case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        key = uid("rt")
        body = {"joins": joins(3), "config": queue_config(rate=2)}

        async def admitted() -> None:
            # The ticks run by themselves; the one that admits the last person is the last.
            async with events(bus, f"queue.{key}.>") as log:
                await rig.ok(f"QueueAdmission/{key}/joinBatch", body)
                await all_ready(log, 3)

        async def check(_: None) -> None:
            check_queue(await rig.state("QueueAdmission", key))

        return key, admitted(), check

    ticked = await at_steps(rig, "QueueAdmission/tick", range(1, 40, 6), tick_case)
    assert len(ticked) >= 2, ticked


async def test_queue_join_that_admits(rig: Rig, bus: Bus) -> None:
    """A join into a new room: the first person is admitted by the join itself (one ready
    record, an admission batch and its sweep timer), the second waits for the loop. A
    crash before each step leaves the two answers, the object and the mirror agreeing."""

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        key = uid("ra")
        body = {"joins": joins(2), "config": queue_config()}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            first, second = (x["ok"] for x in r.json()["results"])
            assert (first["status"], second["status"]) == ("ready", "waiting"), r.text
            st = await rig.state("QueueAdmission", key)
            check_queue(st)
            rec = st[f"tok:{first['token']}"]
            assert (rec["batch"], rec["expiresAt"]) == (1, first["expiresAt"])
            assert first["token"] in st.get("rb:1", [])
            view = await bus.get_json(QUEUE_TOKENS_BUCKET, f"{key}.{first['token']}")
            assert isinstance(view, dict) and view["status"] == "ready", view
            assert view["expiresAt"] == first["expiresAt"]

        return key, rig.call(f"QueueAdmission/{key}/joinBatch", body), check

    steps = range(1, 24)
    every_step(await together(rig, "QueueAdmission/joinBatch", steps, case), steps)


async def test_use_tokens(rig: Rig, bus: Bus) -> None:
    drop_id = uid("ru")
    async with events(bus, f"queue.{drop_id}.>") as log:
        body = {"joins": joins(24), "config": queue_config()}
        await rig.ok(f"QueueAdmission/{drop_id}/joinBatch", body)
        await all_ready(log, 24)

    async def all_ready_in_state() -> list[str]:
        # The tick publishes `queue_ready` before its invocation's state is committed.
        st = await rig.state("QueueAdmission", drop_id)
        ready = sorted(
            (t for t, r in with_prefix(st, "tok:").items() if r["status"] == "ready"),
            key=lambda t: st[f"tok:{t}"]["seq"],
        )
        assert len(ready) == 24
        return ready

    ready = await eventually_async(all_ready_in_state, what="24 ready tokens in state")
    unlisted: list[str] = []

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        # Three tokens a call, so those of one admission batch leave its list.
        tokens, user = ready[k - 1 : k + 2], uid("t")
        body = {"uses": [{"token": t, "userId": f"{user}{n}"} for n, t in enumerate(tokens)]}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            assert all("ok" in v for v in r.json()["results"]), r.text
            st = await rig.state("QueueAdmission", drop_id)
            check_queue(st)
            recs = [st[f"tok:{t}"] for t in tokens]
            assert [r["usedBy"] for r in recs] == [f"{user}{n}" for n in range(3)]
            batches = Counter(r["batch"] for r in recs)
            for t, r in zip(tokens, recs, strict=True):
                listed = t in st.get(f"rb:{r['batch']}", [])
                assert listed == (batches[r["batch"]] < MIN_UNLISTED), (t, r, batches)
                unlisted.extend([] if listed else [t])

        return drop_id, rig.call(f"QueueAdmission/{drop_id}/useTokens", body), check

    crashed = await at_steps(rig, "QueueAdmission/useTokens", range(1, 25, 3), case)
    assert len(crashed) >= 4, crashed
    assert unlisted, "no call spent enough of one batch to take them out of its list"


async def test_a_join_at_its_networks_limit(rig: Rig) -> None:
    """A network holding three places, one of them spent: the spend left it listed, and
    the fourth join reads the three records and takes the spent one out, with a crash
    before each of its steps."""

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        key, cfg = uid("rn"), queue_config(max_per_ip=3)
        three = joins(3)
        held = await rig.ok(f"QueueAdmission/{key}/joinBatch", {"joins": three, "config": cfg})
        spent = held["results"][0]["ok"]["token"]
        use = {"uses": [{"token": spent, "userId": uid("u")}]}
        assert "ok" in (await rig.ok(f"QueueAdmission/{key}/useTokens", use))["results"][0]
        ip = three[0]["ipHash"]
        assert spent in (await rig.state("QueueAdmission", key))[f"ip:{ip}"]
        fourth = {"joins": [{"fingerprintHash": secrets.token_hex(16), "ipHash": ip}]}

        async def check(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text
            token = r.json()["results"][0]["ok"]["token"]
            st = await rig.state("QueueAdmission", key)
            check_queue(st)
            kept = [x["ok"]["token"] for x in held["results"][1:]]
            assert st[f"ip:{ip}"] == [*kept, token], st[f"ip:{ip}"]

        return key, rig.call(f"QueueAdmission/{key}/joinBatch", {**fourth, "config": cfg}), check

    steps = range(1, 26)
    every_step(await together(rig, "QueueAdmission/joinBatch", steps, case), steps)


async def test_sweep_of_a_shared_bucket(rig: Rig, bus: Bus) -> None:
    """Three people admitted by three joins close in time: their admission batches share
    one sweep timer (`ready.share_sweep`), whose sweep expires them all with a crash before
    each of its steps; nothing is left listed or pending."""

    async def case(k: int) -> tuple[str, Awaitable[Any], Callable[[Any], Awaitable[None]]]:
        key = uid("rs")
        cfg = queue_config(ready_window_s=8)

        async def swept() -> int:
            async with events(bus, f"queue.{key}.>") as log:
                for _ in range(3):
                    await rig.ok(
                        f"QueueAdmission/{key}/joinBatch", {"joins": joins(1), "config": cfg}
                    )
                batches = (await rig.state("QueueAdmission", key))["meta"]["batches"]
                await log.wait_for(
                    lambda _, e: sum(x["type"] == "queue_expired" for _, x in log.items) >= 3, 300
                )
            return int(batches)

        async def check(batches: int) -> None:
            assert batches == 3
            st = await rig.state("QueueAdmission", key)
            check_queue(st)
            assert st["meta"]["expired"] == 3 and "sweepBucket" not in st["meta"], st["meta"]
            assert not [k for k in st if k.startswith(("rb:", "rs:"))], list(st)

        return key, swept(), check

    crashed = await together(rig, "QueueAdmission/sweepReady", range(1, 30), case)
    # A sweep of one batch of one token has 13 steps; only a shared bucket has 20 or more.
    assert crashed[:13] == list(range(1, 14)) and max(crashed) >= 20, crashed


async def replace_state(rig: Rig, service: str, key: str, st: dict[str, Any]) -> None:
    """Overwrite an object's state through the admin API (applied asynchronously), and
    wait until it reads back."""
    encoded = {k: list(json.dumps(v).encode()) for k, v in st.items()}
    r = await rig.admin.post(
        f"/services/{service}/state", json={"object_key": key, "new_state": encoded}
    )
    assert r.status_code in (200, 202), r.text

    # The admin API offers no completion to wait on: read it back until it shows.
    async def replaced() -> None:
        assert await rig.state(service, key) == st

    await eventually_async(replaced, what=f"the new state of {service}/{key}", timeout=30)


async def test_a_broken_invariant_halts_sales_and_alarms(rig: Rig) -> None:
    """The oversell state planted by hand (an order recorded, the inventory not): the next
    purchase is refused with the reason, the drop sells nothing more, the worker counts it,
    and the console's alarms list it. A stuck invocation is listed while it is stuck, and
    the api answers calls on its drop with 503 `drop_stalled` (at once after the first)."""
    # An api that gives up on a durable call after 2 s instead of 30.
    api_url, api_proc = await asyncio.to_thread(
        start_api, rig.stack, "api-fast", {"RESTATE_TIMEOUT_SECONDS": "2"}
    )
    try:
        async with httpx.AsyncClient(base_url=api_url, headers=ADMIN, timeout=30) as api:
            drop_id = await halted_drop(rig, api)
            await stalled_drop(rig, api, drop_id)
    finally:
        api_proc.stop()


async def halted_drop(rig: Rig, api: httpx.AsyncClient) -> str:
    drop_id, st = await drawn_drop(rig, 8, 4)
    first, second, third = st["proof"]["winners"][:3]
    for user in (first, second):
        token = (await rig.ok(f"Drop/{drop_id}/startPurchase", {"userId": user}))["purchaseToken"]
        if user == first:
            body = {"userId": user, "purchaseToken": token}
            await rig.ok(f"Drop/{drop_id}/completePurchase", body)
    st = await rig.state("Drop", drop_id)
    await replace_state(rig, "Drop", drop_id, {**st, "core": {**st["core"], "inventory": 4}})
    body = {"userId": second, "purchaseToken": token}
    refused = await rig.call(f"Drop/{drop_id}/completePurchase", body)
    assert refused.status_code == 409 and "sales_halted" in refused.text, refused.text
    assert "inventory is 3; 4 items less 2 orders is 2" in refused.text, refused.text
    again = await rig.call(f"Drop/{drop_id}/startPurchase", {"userId": third})
    assert again.status_code == 409 and "sales_halted" in again.text, again.text
    after = await rig.state("Drop", drop_id)
    assert "order:" + second not in after and len(after["orders"]) == 1
    metrics = (await api.get(f"{rig.stack.metrics_url('worker')}/metrics")).text
    assert f'drop_invariant_violations_total{{drop="{drop_id}"}} 1.0' in metrics
    listed = (await api.get("/api/admin/alarms")).json()["alarms"]
    assert any(a["kind"] == "invariant" and a["dropId"] == drop_id for a in listed), listed
    return drop_id


async def stalled_drop(rig: Rig, api: httpx.AsyncClient, drop_id: str) -> None:
    """The worker dies in promoteBackup and stays down a while."""
    rig.plan_file.write_text(f"Drop/promoteBackup:1@{drop_id}\n")
    popen = rig.stack.procs["worker"].popen
    assert popen is not None
    promoting = asyncio.ensure_future(rig.call(f"Drop/{drop_id}/promoteBackup"))
    await process_exit(popen.pid)

    # Restate marks it backing-off after its first failed retry; nothing tells us when.
    async def listed_stuck() -> list[dict[str, Any]]:
        listed = (await api.get("/api/admin/alarms")).json()["alarms"]
        stuck = [a for a in listed if a["kind"] == "stuck" and a["dropId"] == drop_id]
        assert stuck, f"alarms now: {listed}"
        return stuck

    stuck = await eventually_async(listed_stuck, what="a stuck alarm", timeout=60, interval=0.1)
    assert stuck[0]["target"] == f"Drop/{drop_id}/promoteBackup"
    first = await api.post(f"/api/drop/{drop_id}/promote")
    assert first.status_code == 503 and first.json()["code"] == "drop_stalled", first.text
    assert "promoteBackup" in first.json()["error"]
    started = time.monotonic()
    second = await api.post(f"/api/drop/{drop_id}/promote")
    assert second.status_code == 503 and second.headers["retry-after"] == "5", second.text
    assert time.monotonic() - started < 3.0  # a hung or retried call takes far longer
    await asyncio.to_thread(rig.stack.restart, "worker")
    await rig.retry_now([drop_id])
    assert (await promoting).status_code == 200
    listed = (await api.get("/api/admin/alarms")).json()["alarms"]
    assert not [a for a in listed if a["kind"] == "stuck" and a["dropId"] == drop_id]
