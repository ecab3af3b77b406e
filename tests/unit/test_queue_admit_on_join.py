"""A join into an empty line is admitted at once, within the budget the loop's ticks spend
too: FIFO, the ready cap and the rate hold exactly as when a tick admits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import JsonValue

from apps.worker.queue.admission import tick
from apps.worker.queue.join import joinBatch
from apps.worker.queue.object import SHARE_MS, TICK
from drop.durable import JoinBatch, Joined, Ok, Refused, Ticked, TickIn
from tests.support.fake_context import FakeContext
from tests.unit.waiting_room import CFG, DROP, NOW, digest, fill_line, meta, token

WINDOW_MS = 60_000


def person(n: int) -> JsonValue:
    return {"fingerprintHash": digest(100 + n, "f"), "ipHash": digest(100 + n, "i")}


def room(fake: FakeContext, loop: dict[str, Any], **fields: Any) -> None:
    """An empty room whose loop (and other counters) are as given."""
    fake.set("meta", meta(loop=loop, **fields).stored())


def idle(credit: float, since: int) -> dict[str, Any]:
    """A stopped loop that last earned credit at `since`."""
    return {"active": False, "gen": 3, "credit": credit, "lastTickAt": since, "creditAt": since}


async def join_at(fake: FakeContext, at: int, n: int, first: int = 0) -> list[Joined]:
    """`n` new people (numbered from `first`) joining at `at`; their answers."""
    fake.answers["join stamp"] = {"now": at, "random": [f"{k:032x}" for k in range(n)]}
    joins = [person(first + k) for k in range(n)]
    results = (await joinBatch(fake.ctx, JoinBatch(joins=joins, config=CFG))).results
    assert not [r for r in results if isinstance(r, Refused)]
    return [r.ok for r in results if isinstance(r, Ok)]


def sent(fake: FakeContext) -> list[tuple[str, Any, timedelta | None]]:
    return [(s.target, s.payload, s.delay) for s in fake.sent]


async def test_a_join_into_an_empty_line_is_ready_at_once_with_one_write_per_person() -> None:
    fake = FakeContext(DROP)
    room(fake, idle(0.0, NOW - 60_000))  # idle long enough for a full bucket
    fake.writes.clear()
    answers = await join_at(fake, NOW, 2)
    assert [(j.status, j.position, j.ahead_of_you) for j in answers] == [("ready", 0, 0)] * 2
    assert [j.expires_at for j in answers] == [NOW + WINDOW_MS] * 2
    tokens = [j.token for j in answers]
    for t in tokens:
        assert fake.writes.count(f"tok:{t}") == 1
        rec = fake.state(f"tok:{t}")
        assert (rec["status"], rec["readyAt"], rec["expiresAt"]) == ("ready", NOW, NOW + WINDOW_MS)
        assert rec["batch"] == 1
    assert fake.state("rb:1") == tokens
    stored = fake.state("meta")
    assert (stored["head"], stored["tail"], stored["waiting"]) == (3, 2, 0)
    assert (stored["ready"], stored["admitted"], stored["batches"]) == (2, 2, 1)
    assert stored["loop"]["active"] is False  # nobody waits: no loop, no tick
    assert stored["loop"]["credit"] == 40.0 - 2  # a full bucket is BURST_SECONDS of rate
    assert sent(fake) == [
        ("QueueAdmission/sweepReady", {"batch": 1, "at": SWEPT}, timedelta(seconds=61))
    ]
    assert stored["sweepBucket"] == {"first": 1, "until": SWEPT}
    assert fake.steps == ["join stamp", "join events"]


# The admission batch's timer: its window's end and the share of the batches after it.
SWEPT = NOW + WINDOW_MS + SHARE_MS


async def test_when_the_budget_runs_out_the_rest_of_the_batch_waits_for_the_loop() -> None:
    fake = FakeContext(DROP)
    room(fake, idle(0.5, NOW - 100))  # 0.5 saved + 20/s for 0.1 s = 2.5
    answers = await join_at(fake, NOW, 5)
    assert [(j.status, j.position) for j in answers] == [
        ("ready", 0),
        ("ready", 0),
        ("waiting", 1),
        ("waiting", 2),
        ("waiting", 3),
    ]
    assert [j.total_in_queue for j in answers] == [3] * 5
    stored = fake.state("meta")
    assert (stored["head"], stored["waiting"], stored["ready"]) == (3, 3, 2)
    assert stored["loop"] == {
        "active": True,
        "gen": 4,
        "credit": 0.5,
        "lastTickAt": NOW,
        "ticks": 0,
        "creditAt": NOW,
    }
    assert fake.state(f"tok:{answers[2].token}")["status"] == "waiting"
    assert ("QueueAdmission/tick", {"gen": 4}, TICK) in sent(fake)


async def test_a_newcomer_never_passes_someone_already_waiting() -> None:
    fake = FakeContext(DROP)
    fill_line(fake, 1)
    m = fake.state("meta")
    m["loop"] = {"active": True, "gen": 1, "credit": 30.0, "lastTickAt": NOW, "ticks": 2}
    fake.set("meta", m)
    [late] = await join_at(fake, NOW + 10, 1)
    assert (late.status, late.position) == ("waiting", 2)
    stored = fake.state("meta")
    assert (stored["head"], stored["waiting"], stored["ready"]) == (1, 2, 0)
    assert stored["loop"]["credit"] == 30.0 and "creditAt" not in stored["loop"]  # untouched
    assert fake.state(f"tok:{token(1)}")["status"] == "waiting"
    assert fake.sent == []  # the running loop will admit both, in order


async def test_a_join_never_fills_more_than_the_ready_slots() -> None:
    fake = FakeContext(DROP)
    cfg = {**CFG, "maxConcurrent": 3}
    room(fake, idle(10.0, NOW), ready=2, admitted=2)
    fake.answers["join stamp"] = {"now": NOW, "random": [f"{k:032x}" for k in range(3)]}
    joins = [person(k) for k in range(3)]
    results = (await joinBatch(fake.ctx, JoinBatch(joins=joins, config=cfg))).results
    statuses = [r.ok.status for r in results if isinstance(r, Ok)]
    assert statuses == ["ready", "waiting", "waiting"]
    stored = fake.state("meta")
    assert (stored["ready"], stored["waiting"], stored["loop"]["credit"]) == (3, 2, 9.0)


async def test_a_tick_after_a_join_earns_only_the_time_since_the_join() -> None:
    """The join credited the room up to its own time, so the next tick earns from there,
    not from the loop's last tick (which stays the loop's liveness clock)."""
    fake = FakeContext(DROP)
    running = {"active": True, "gen": 1, "credit": 0.0, "lastTickAt": NOW, "creditAt": NOW}
    room(fake, running)
    answers = await join_at(fake, NOW + 100, 3)  # 20/s for 0.1 s: two admitted, one waits
    assert [j.status for j in answers] == ["ready", "ready", "waiting"]
    loop = fake.state("meta")["loop"]
    assert (loop["lastTickAt"], loop["creditAt"], loop["credit"]) == (NOW, NOW + 100, 0.0)
    fake.answers["tick time"] = NOW + 125
    ticked = await tick(fake.ctx, TickIn(gen=1))
    # 25 ms earn half an admission; counted from the last tick, 125 ms would earn 2.5.
    assert ticked == Ticked(admitted=0, expired=0, waiting=1, ready=2)
    loop = fake.state("meta")["loop"]
    assert (loop["credit"], loop["creditAt"], loop["lastTickAt"]) == (0.5, NOW + 125, NOW + 125)
    fake.answers["tick time"] = NOW + 150
    assert await tick(fake.ctx, TickIn(gen=1)) == Ticked(admitted=1, expired=0, waiting=0, ready=3)


async def test_meta_an_earlier_build_wrote_earns_credit_from_its_last_tick() -> None:
    """Without `creditAt`, the credit was earned up to the loop's last tick; a join credits
    from there (capped at the burst), and the clock is written for the next step."""
    fake = FakeContext(DROP)
    earlier = {"active": False, "gen": 2, "credit": 0.25, "lastTickAt": NOW - 100, "ticks": 7}
    room(fake, earlier, tail=4, head=5, admitted=4, used=4)
    answers = await join_at(fake, NOW, 4)  # 0.25 + 20/s for 0.1 s = 2.25
    assert [j.status for j in answers] == ["ready", "ready", "waiting", "waiting"]
    assert [j.position for j in answers[2:]] == [1, 2]
    loop = fake.state("meta")["loop"]
    assert (loop["credit"], loop["creditAt"], loop["gen"], loop["lastTickAt"]) == (
        0.25,
        NOW,
        3,
        NOW,
    )
    rec = fake.state(f"tok:{answers[0].token}")
    assert (rec["seq"], rec["status"]) == (5, "ready")


async def test_a_stale_loop_of_an_earlier_build_restarted_by_a_join_keeps_its_credit_clock() -> (
    None
):
    """People wait, so the join admits nobody; the dead loop is restarted, and its credit
    is still earned from the last tick it made (not from the restart)."""
    fake = FakeContext(DROP)
    fill_line(fake, 1)
    m = fake.state("meta")
    m["loop"] = {"active": True, "gen": 1, "credit": 0.0, "lastTickAt": NOW - 20_000, "ticks": 9}
    fake.set("meta", m)
    [late] = await join_at(fake, NOW, 1)
    assert late.status == "waiting"
    loop = fake.state("meta")["loop"]
    assert (loop["gen"], loop["lastTickAt"], loop["creditAt"]) == (2, NOW, NOW - 20_000)
