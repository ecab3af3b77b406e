"""The waiting room's handlers on a fake context: joins, ticks, spends and expiries move the
line and its counters exactly (Restate and NATS themselves: tests/integration/test_queue.py)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import JsonValue, TypeAdapter

from apps.worker.queue.admission import sweepReady, tick
from apps.worker.queue.join import joinBatch
from apps.worker.queue.object import SHARE_MS, TICK
from apps.worker.queue.tokens import checkToken, markTokenExpired, useTokens
from drop.durable import (
    QUEUE_USE_TOKENS,
    Batch,
    ExpireIn,
    Found,
    JoinBatch,
    Joined,
    Ok,
    Refused,
    Stale,
    SweepIn,
    Ticked,
    TickIn,
    TokenQuery,
    TokenUse,
    TokenUses,
)
from tests.support.fake_context import FakeContext
from tests.unit.waiting_room import CFG, DROP, MAX_AGE_MS, NOW, digest, fill_line, token

WINDOW_MS = 60_000
WINDOW = timedelta(milliseconds=WINDOW_MS)
# An admission batch's sweep timer: its window's end and the share of the batches after it.
SWEPT_MS = WINDOW_MS + SHARE_MS
SWEPT = timedelta(milliseconds=SWEPT_MS)


def join(fp: int, ip: int) -> JsonValue:
    return {"fingerprintHash": digest(fp, "f"), "ipHash": digest(ip, "i")}


async def join_all(fake: FakeContext, joins: list[JsonValue]) -> list[Ok[Joined] | Refused]:
    fake.answers["join stamp"] = {"now": NOW, "random": [f"{n:032x}" for n in range(len(joins))]}
    return (await joinBatch(fake.ctx, JoinBatch(joins=joins, config=CFG))).results


def refused(result: Ok[Joined] | Ok[Found] | Refused) -> tuple[int, str]:
    assert isinstance(result, Refused), result
    return result.error.status, result.error.code


async def test_a_new_room_admits_its_first_joiner_at_once_and_lines_up_the_rest() -> None:
    """A new room starts with one admission's credit (as a new loop did): the first joiner
    is ready at once, the next ones get consecutive places and a loop to admit them."""
    fake = FakeContext(DROP)
    results = await join_all(fake, [join(1, 1), join(2, 2), join(3, 3)])
    oks = [r.ok for r in results if isinstance(r, Ok)]
    assert [(j.status, j.position) for j in oks] == [("ready", 0), ("waiting", 1), ("waiting", 2)]
    stored = fake.state("meta")
    assert (stored["tail"], stored["head"], stored["waiting"], stored["ready"]) == (3, 2, 2, 1)
    assert stored["cfg"] == CFG
    assert stored["loop"] == {
        "active": True,
        "gen": 1,
        "credit": 0.0,
        "lastTickAt": NOW,
        "ticks": 0,
        "creditAt": NOW,
    }
    first, second, _ = (j.token for j in oks)
    assert fake.state("line:0")[1] == [second, NOW, NOW + MAX_AGE_MS]
    assert fake.state(f"tok:{second}") == {
        "seq": 2,
        "status": "waiting",
        "fp": digest(2, "f"),
        "ip": digest(2, "i"),
        "joinedAt": NOW,
        "waitUntil": NOW + MAX_AGE_MS,
    }
    assert fake.state("rb:1") == [first]
    assert [(s.target, s.payload, s.key, s.delay) for s in fake.sent] == [
        ("QueueAdmission/sweepReady", {"batch": 1, "at": NOW + SWEPT_MS}, DROP, SWEPT),
        ("QueueAdmission/tick", {"gen": 1}, DROP, TICK),
    ]


async def test_device_and_network_limits_refuse_only_the_join_over_them() -> None:
    fake = FakeContext(DROP)
    results = await join_all(
        fake, [join(1, 1), join(1, 2), join(2, 1), join(3, 1), join(4, 1), {"ipHash": "zz"}]
    )
    assert isinstance(results[0], Ok) and isinstance(results[2], Ok)
    assert refused(results[1]) == (409, "queue_fingerprint_limit")
    assert isinstance(results[3], Ok)
    assert refused(results[4]) == (409, "queue_ip_limit")
    assert refused(results[5]) == (400, "invalid_request")
    assert fake.state("meta")["tail"] == 3
    assert len(fake.state(f"ip:{digest(1, 'i')}")) == 3


async def test_a_join_sent_again_gets_its_place_back() -> None:
    fake = FakeContext(DROP)
    [first] = await join_all(fake, [join(1, 1)])
    [again] = await join_all(fake, [join(1, 1)])
    assert isinstance(first, Ok) and isinstance(again, Ok)
    assert again.ok.token == first.ok.token and again.ok.status == first.ok.status == "ready"
    assert again.ok.expires_at == first.ok.expires_at == NOW + WINDOW_MS
    assert fake.state("meta")["tail"] == 1


async def tick_line(
    fake: FakeContext, waiting: int, credit: float, at: int, **meta: object
) -> Ticked | Stale:
    """A tick at `at` over a line of `waiting` tokens, its loop (generation 1) running with
    `credit` since NOW; `meta` overrides stored counters or config."""
    fill_line(fake, waiting)
    m = {**fake.state("meta"), **meta}
    m["loop"] = {"active": True, "gen": 1, "credit": credit, "lastTickAt": NOW, "ticks": 0}
    fake.set("meta", m)
    fake.answers["tick time"] = at
    return await tick(fake.ctx, TickIn(gen=1))


async def test_a_tick_admits_what_its_credit_allows_and_schedules_the_next() -> None:
    fake = FakeContext(DROP)
    at = NOW + 250
    answer = await tick_line(fake, 10, credit=1.0, at=at)
    # 1 saved + 20/s for 0.25 s = 6 admissions.
    assert answer == Ticked(admitted=6, expired=0, waiting=4, ready=6)
    stored = fake.state("meta")
    assert (stored["head"], stored["batches"], stored["admitted"]) == (7, 1, 6)
    assert stored["loop"]["credit"] == 0.0 and stored["loop"]["ticks"] == 1
    assert fake.state("rb:1") == [token(s) for s in range(1, 7)]
    rec = fake.state(f"tok:{token(1)}")
    assert (rec["status"], rec["readyAt"], rec["expiresAt"]) == ("ready", at, at + WINDOW_MS)
    assert fake.state(f"tok:{token(7)}")["status"] == "waiting"
    sent = {s.target: s for s in fake.sent}
    assert sent["QueueAdmission/sweepReady"].payload == {"batch": 1, "at": at + SWEPT_MS}
    assert sent["QueueAdmission/sweepReady"].delay == SWEPT
    assert sent["QueueAdmission/tick"].payload == {"gen": 1}
    assert sent["QueueAdmission/tick"].delay == TICK
    assert "tick events" in fake.steps


async def test_a_tick_never_fills_more_than_the_ready_slots() -> None:
    fake = FakeContext(DROP)
    cfg = {**CFG, "maxConcurrent": 3}
    answer = await tick_line(fake, 10, credit=10.0, at=NOW, ready=1, cfg=cfg)
    assert isinstance(answer, Ticked) and (answer.admitted, answer.ready) == (2, 3)


async def test_a_tick_of_an_old_generation_or_a_stopped_loop_does_nothing() -> None:
    fake = FakeContext(DROP)
    fill_line(fake, 2)
    assert await tick(fake.ctx, TickIn(gen=1)) == Stale(stale=True)  # loop not active
    m = fake.state("meta")
    m["loop"]["active"], m["loop"]["gen"] = True, 2
    fake.set("meta", m)
    assert await tick(fake.ctx, TickIn(gen=1)) == Stale(stale=True)
    assert fake.sent == [] and fake.state("meta") == m


async def test_a_tick_past_everyones_max_age_expires_them_and_stops_the_loop() -> None:
    fake = FakeContext(DROP)
    answer = await tick_line(fake, 3, credit=0.0, at=NOW + MAX_AGE_MS)
    assert answer == Ticked(admitted=0, expired=3, waiting=0, ready=0)
    stored = fake.state("meta")
    assert stored["loop"]["active"] is False and stored["head"] == 4
    assert fake.sent == []  # nobody waits: no next tick
    assert fake.state(f"fp:{digest(2, 'f')}") is None


async def spend(fake: FakeContext, *uses: tuple[str, str]) -> list[Ok[Found] | Refused]:
    batch = TokenUses(uses=[TokenUse(token=t, user_id=u) for t, u in uses])
    return (await useTokens(fake.ctx, batch)).results


async def test_a_join_at_its_networks_limit_clears_the_spent_tokens_out_of_it() -> None:
    """Three places per network: a spent token still listed does not count, a live one
    does; the records are read only once the network is at its limit."""
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 1)
    fake.answers["now"] = at + 1
    await spend(fake, (token(1), "u1"))
    network = f"ip:{digest(1, 'i')}"
    fake.answers["join stamp"] = {"now": at + 2, "random": [f"{n:032x}" for n in range(90, 94)]}
    fake.reads.clear()
    joins = [join(10, 1), join(11, 1), join(12, 1), join(13, 1)]
    results = (await joinBatch(fake.ctx, JoinBatch(joins=joins, config=CFG))).results
    assert [isinstance(r, Ok) for r in results[:3]] == [True, True, True]
    assert refused(results[3]) == (409, "queue_ip_limit")
    made = [r.ok.token for r in results if isinstance(r, Ok)]
    assert fake.state(network) == made
    # token(1)'s record was read once, when the third join found the network full.
    assert fake.reads.count(f"tok:{token(1)}") == 1


async def admitted_line(fake: FakeContext, n: int) -> int:
    """A line of `n` tokens, all admitted by one tick; the time of that tick."""
    await tick_line(fake, n, credit=float(n), at=NOW)
    return NOW


async def test_a_ready_token_is_spent_once_by_its_user_and_gives_its_network_back() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 2)
    fake.answers["now"] = at + 1
    fake.reads.clear()
    fake.writes.clear()
    [used] = await spend(fake, (token(1), "u1"))
    assert isinstance(used, Ok) and used.ok.status == "used" and used.ok.used_by == "u1"
    rec = fake.state(f"tok:{token(1)}")
    assert (rec["usedBy"], rec["usedAt"]) == ("u1", at + 1)
    network = f"ip:{digest(1, 'i')}"
    # The spend leaves its network's list alone: a join at the limit clears it (below).
    assert network not in fake.reads and network not in fake.writes
    assert fake.state(network) == [token(1)]
    assert fake.state(f"fp:{digest(1, 'f')}") == [token(1)]  # the device keeps its place
    stored = fake.state("meta")
    assert (stored["ready"], stored["used"]) == (1, 1)
    again, other = await spend(fake, (token(1), "u1"), (token(1), "u2"))
    assert isinstance(again, Ok) and fake.state("meta")["used"] == 1
    assert refused(other) == (409, "queue_token_used")


async def test_tokens_that_cannot_be_spent_say_why() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 1)
    before = fake.state("meta")
    fake.answers["now"] = at + WINDOW_MS
    results = await spend(fake, (token(1), ""), (token(99), "u"), (token(1), "u"))
    assert [refused(r) for r in results] == [
        (400, "invalid_request"),
        (403, "queue_token_invalid"),
        (410, "queue_token_expired"),
    ]
    assert fake.state("meta") == before  # nothing spent, nothing written


async def test_a_waiting_token_cannot_be_spent() -> None:
    fake = FakeContext(DROP)
    fill_line(fake, 1)
    fake.answers["now"] = NOW
    [result] = await spend(fake, (token(1), "u"))
    assert refused(result) == (403, "queue_token_not_ready")


async def test_the_sweep_expires_the_unused_tokens_of_its_batch_only() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 3)
    fake.answers["now"] = at + 1
    await spend(fake, (token(2), "u"))
    fake.answers["sweep time"] = at + WINDOW_MS
    swept = await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))
    assert swept.expired == 2
    statuses = [fake.state(f"tok:{token(s)}")["status"] for s in (1, 2, 3)]
    assert statuses == ["expired", "used", "expired"]
    stored = fake.state("meta")
    assert (stored["ready"], stored["used"], stored["expired"]) == (0, 1, 2)
    assert fake.state("rb:1") is None


async def test_spent_tokens_leave_their_batch_so_the_sweep_reads_only_the_unspent() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 5)
    assert fake.state(f"tok:{token(1)}")["batch"] == 1
    fake.answers["now"] = at + 1
    await spend(fake, (token(1), "u1"), (token(3), "u3"), (token(4), "u4"))
    assert fake.state("rb:1") == [token(2), token(5)]
    fake.reads.clear()
    fake.answers["sweep time"] = at + WINDOW_MS
    swept = await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))
    assert swept.expired == 2
    assert [k for k in fake.reads if k.startswith("tok:")] == [f"tok:{token(2)}", f"tok:{token(5)}"]
    statuses = [fake.state(f"tok:{token(s)}")["status"] for s in range(1, 6)]
    assert statuses == ["used", "expired", "used", "used", "expired"]
    assert (fake.state("meta")["used"], fake.state("meta")["expired"]) == (3, 2)


async def test_a_batch_spent_whole_is_cleared_and_its_sweep_reads_no_token() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 3)
    fake.answers["now"] = at + 1
    await spend(fake, (token(1), "u1"), (token(2), "u2"), (token(3), "u3"))
    assert fake.state("rb:1") is None
    fake.reads.clear()
    fake.answers["sweep time"] = at + WINDOW_MS
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))).expired == 0
    assert not [k for k in fake.reads if k.startswith("tok:")]
    assert fake.state("meta")["used"] == 3 and fake.state("meta")["ready"] == 0


async def sweep_expires_only_the_fourth(fake: FakeContext, at: int) -> None:
    """The batch of four, three of them used, swept at its window's end."""
    fake.answers["sweep time"] = at + WINDOW_MS
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))).expired == 1
    statuses = [fake.state(f"tok:{token(s)}")["status"] for s in range(1, 5)]
    assert statuses == ["used", "used", "used", "expired"]
    assert fake.state("rb:1") is None


async def test_a_few_tokens_spent_at_once_stay_listed_and_the_sweep_skips_them() -> None:
    """One or two spends of a batch in a call cost less read by the sweep than a rewrite
    of the batch's list."""
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 4)
    fake.answers["now"] = at + 1
    await spend(fake, (token(1), "u1"), (token(2), "u2"))
    await spend(fake, (token(3), "u3"))
    assert fake.state("rb:1") == [token(s) for s in range(1, 5)]
    await sweep_expires_only_the_fourth(fake, at)


async def test_a_token_named_twice_in_one_batch_is_spent_once() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 1)
    fake.answers["now"] = at + 1
    first, other = await spend(fake, (token(1), "u1"), (token(1), "u2"))
    assert isinstance(first, Ok) and first.ok.used_by == "u1"
    assert refused(other) == (409, "queue_token_used")
    stored = fake.state("meta")
    assert (stored["ready"], stored["used"]) == (0, 1)
    assert fake.state(f"tok:{token(1)}")["usedBy"] == "u1"


async def test_tokens_an_earlier_build_admitted_are_spent_and_swept_as_before() -> None:
    """Records stored without `batch` (admitted before the upgrade) stay in their batch's
    list when spent; the sweep reads them and skips the used ones."""
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 4)
    for s in range(1, 5):
        old = fake.state(f"tok:{token(s)}")
        del old["batch"]
        fake.set(f"tok:{token(s)}", old)
    fake.answers["now"] = at + 1
    spent = await spend(fake, (token(1), "u1"), (token(2), "u2"), (token(3), "u3"))
    assert all(isinstance(r, Ok) and r.ok.status == "used" for r in spent)
    assert fake.state("rb:1") == [token(s) for s in range(1, 5)]
    assert "batch" not in fake.state(f"tok:{token(2)}")
    await sweep_expires_only_the_fourth(fake, at)


async def test_a_sweep_that_fires_early_looks_again_later() -> None:
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 1)
    fake.sent.clear()
    fake.answers["sweep time"] = at + WINDOW_MS - 40
    swept = await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))
    assert swept.expired == 0 and fake.state(f"tok:{token(1)}")["status"] == "ready"
    [again] = fake.sent
    assert again.target == "QueueAdmission/sweepReady" and again.delay == timedelta(milliseconds=40)


async def join_at(fake: FakeContext, at: int, n: int) -> str:
    """The n-th person joins alone at `at` (from a device and network of its own); its token."""
    fake.answers["join stamp"] = {"now": at, "random": [f"{n + 100:032x}"]}
    [joined] = (await joinBatch(fake.ctx, JoinBatch(joins=[join(n, n)], config=CFG))).results
    assert isinstance(joined, Ok) and joined.ok.status == "ready", joined
    return joined.ok.token


def sweeps(fake: FakeContext) -> list[JsonValue]:
    return [s.payload for s in fake.sent if s.target == "QueueAdmission/sweepReady"]


async def test_admission_batches_close_in_time_share_one_sweep_timer() -> None:
    """Batches whose windows end within SHARE_MS of the first's are swept by its timer; the
    next batch opens a bucket of its own and writes down where the first one ends."""
    fake = FakeContext(DROP)
    first = await join_at(fake, NOW, 1)
    second = await join_at(fake, NOW + SHARE_MS // 2, 2)
    until = NOW + WINDOW_MS + SHARE_MS
    assert sweeps(fake) == [{"batch": 1, "at": until}]
    assert fake.state("meta")["sweepBucket"] == {"first": 1, "until": until}
    third = await join_at(fake, NOW + SHARE_MS + 1, 3)
    later = NOW + SHARE_MS + 1 + WINDOW_MS + SHARE_MS
    assert sweeps(fake) == [{"batch": 1, "at": until}, {"batch": 3, "at": later}]
    assert fake.state("rs:1") == 2
    assert [fake.state(f"rb:{n}") for n in (1, 2, 3)] == [[first], [second], [third]]
    fake.answers["sweep time"] = until
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=until))).expired == 2
    statuses = [fake.state(f"tok:{t}")["status"] for t in (first, second, third)]
    assert statuses == ["expired", "expired", "ready"]
    assert [fake.state(k) for k in ("rb:1", "rb:2", "rs:1")] == [None, None, None]
    assert fake.state("meta")["sweepBucket"] == {"first": 3, "until": later}
    fake.answers["sweep time"] = later
    assert (await sweepReady(fake.ctx, SweepIn(batch=3, at=later))).expired == 1
    stored = fake.state("meta")
    assert "sweepBucket" not in stored and (stored["ready"], stored["expired"]) == (0, 3)
    await join_at(fake, later + 1, 4)  # the next admission opens a bucket again
    assert fake.state("meta")["sweepBucket"]["first"] == 4 and fake.state("rs:3") is None


async def test_the_open_buckets_timer_sweeps_every_batch_admitted_since_its_first() -> None:
    fake = FakeContext(DROP)
    tokens = [await join_at(fake, NOW + 100 * n, n) for n in range(1, 4)]
    assert sweeps(fake) == [{"batch": 1, "at": NOW + 100 + WINDOW_MS + SHARE_MS}]
    fake.answers["now"] = NOW + 400
    await spend(fake, (tokens[1], "u2"))
    at = NOW + 100 + WINDOW_MS + SHARE_MS
    fake.answers["sweep time"] = at
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=at))).expired == 2
    statuses = [fake.state(f"tok:{t}")["status"] for t in tokens]
    assert statuses == ["expired", "used", "expired"]
    assert "sweepBucket" not in fake.state("meta")


async def test_an_early_sweep_of_the_open_bucket_leaves_it_open() -> None:
    fake = FakeContext(DROP)
    await join_at(fake, NOW, 1)
    until = NOW + WINDOW_MS + SHARE_MS
    fake.sent.clear()
    fake.answers["sweep time"] = until - 40
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=until))).expired == 0
    assert sweeps(fake) == [{"batch": 1, "at": until}]
    assert fake.state("meta")["sweepBucket"] == {"first": 1, "until": until}
    await join_at(fake, NOW + 100, 2)  # still joins the bucket: its timer is still due
    assert len(sweeps(fake)) == 1 and fake.state("meta")["batches"] == 2


async def test_a_sweep_an_earlier_build_set_sweeps_its_own_batch_only() -> None:
    """Meta an earlier build wrote has no bucket, and each of its batches its own timer."""
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 2)
    m = fake.state("meta")
    del m["sweepBucket"]
    fake.set("meta", {**m, "batches": 2})
    fake.set("rb:1", [token(1)])
    fake.set("rb:2", [token(2)])
    fake.answers["sweep time"] = at + WINDOW_MS
    assert (await sweepReady(fake.ctx, SweepIn(batch=1, at=at + WINDOW_MS))).expired == 1
    assert fake.state(f"tok:{token(2)}")["status"] == "ready"
    assert fake.state("rb:2") == [token(2)] and fake.state("rb:1") is None
    assert (await sweepReady(fake.ctx, SweepIn(batch=2, at=at + WINDOW_MS))).expired == 1


async def test_a_waiting_token_that_leaves_moves_everyone_behind_it_up() -> None:
    fake = FakeContext(DROP)
    fill_line(fake, 4)
    fake.answers["now"] = NOW
    left = await markTokenExpired(fake.ctx, ExpireIn(token=token(2)))
    assert isinstance(left, Found) and left.status == "expired"
    stored = fake.state("meta")
    assert (stored["holes"], stored["waiting"], stored["expired"]) == ([2], 3, 1)
    behind = await checkToken(fake.ctx, TokenQuery(token=token(4)))
    assert isinstance(behind, Found) and behind.position == 3 and behind.ahead_of_you == 2


async def test_a_brief_spend_answers_found_or_the_refusal_and_the_drop_reads_both_shapes() -> None:
    """A registration batch reads only the refusals, so it asks for brief answers; a full
    answer (an earlier build's queue ignores `brief`) reads the same through its target."""
    fake = FakeContext(DROP)
    at = await admitted_line(fake, 2)
    fake.answers["now"] = at + 1
    uses = [TokenUse(token=token(1), user_id="u1"), TokenUse(token=token(99), user_id="u")]
    brief = await useTokens(fake.ctx, TokenUses(uses=uses, brief=True))
    assert QUEUE_USE_TOKENS.gives.dump_python(brief, by_alias=True, mode="json") == {
        "results": [
            {"ok": {"found": True}},
            {
                "error": {
                    "status": 403,
                    "code": "queue_token_invalid",
                    "message": "this queue token does not exist",
                }
            },
        ]
    }
    assert fake.state(f"tok:{token(1)}")["usedBy"] == "u1"
    full = await useTokens(fake.ctx, TokenUses(uses=uses))  # the same user again: not refused
    assert isinstance(full.results[0], Ok) and full.results[0].ok.used_by == "u1"
    read = QUEUE_USE_TOKENS.decode(TypeAdapter(Batch[Found]).dump_json(full, by_alias=True))
    assert read == brief
