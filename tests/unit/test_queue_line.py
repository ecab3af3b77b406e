"""The line's arithmetic: the walk from the head, position updates, holders of devices."""

from __future__ import annotations

from apps.worker.queue.line import Holders, InLine, Line, end_token, positions, walk_line
from apps.worker.queue.object import CHUNK, HEAD_WINDOW, MAX_STEPS, SWEEP_BUDGET
from apps.worker.queue.state import record_of
from tests.support.fake_context import FakeContext
from tests.unit.waiting_room import DROP, MAX_AGE_MS, NOW, digest, fill_line, token


async def test_the_walk_expires_the_too_old_admits_up_to_the_quota_and_skips_holes() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, 5, holes=(4,))
    # Sequence numbers 1 and 3 joined long ago; the others are young.
    old = NOW - MAX_AGE_MS
    for seq in (1, 3):
        rows = fake.state("line:0")
        rows[seq - 1][1:] = [old, old + MAX_AGE_MS]
        fake.set("line:0", rows)
    walk = await walk_line(Line(fake.ctx), m, quota=2, now=NOW)
    assert walk.too_old == [token(1), token(3)]
    assert walk.admit == [token(2), token(5)]
    assert walk.head == 6  # the first token still waiting


async def test_a_walk_without_quota_stops_at_the_first_young_token() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, 3)
    walk = await walk_line(Line(fake.ctx), m, quota=0, now=NOW)
    assert (walk.too_old, walk.admit, walk.head) == ([], [], 1)


async def test_one_walk_takes_at_most_max_steps_across_chunks() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, MAX_STEPS + 10)
    assert MAX_STEPS > CHUNK  # the walk crosses into the next chunk
    walk = await walk_line(Line(fake.ctx), m, quota=10_000, now=NOW + MAX_AGE_MS)
    assert walk.too_old == [token(s) for s in range(1, MAX_STEPS + 1)]
    assert walk.head == MAX_STEPS + 1 and walk.admit == []


async def test_the_line_reads_and_appends_entries_in_chunks() -> None:
    fake = FakeContext(DROP)
    line = Line(fake.ctx)
    for seq in range(1, CHUNK + 2):
        await line.append(seq, InLine(token(seq), NOW, NOW + seq))
    line.save(fake.ctx)
    assert len(fake.state("line:0")) == CHUNK
    assert fake.state("line:1") == [[token(CHUNK + 1), NOW, NOW + CHUNK + 1]]
    again = Line(fake.ctx)
    assert await again.entry(CHUNK + 1) == InLine(token(CHUNK + 1), NOW, NOW + CHUNK + 1)
    assert (await again.entry(7)).place(7).wait_until == NOW + 7


async def test_positions_cover_the_head_window_then_sweep_round_robin() -> None:
    fake = FakeContext(DROP)
    tail = HEAD_WINDOW + 2 * SWEEP_BUDGET - 5
    m = fill_line(fake, tail)
    m.loop.gen, m.loop.ticks = 3, 7
    first = await positions(Line(fake.ctx), m, DROP, NOW)
    sweep_end = HEAD_WINDOW + SWEEP_BUDGET
    assert [e.view.position for e in first] == list(range(1, sweep_end + 1))
    assert m.sweep == sweep_end + 1
    assert first[0].type == "queue_position" and first[0].msg_id == f"{DROP}:q:{token(1)}:t3.7"
    assert first[0].data == {
        "position": 1,
        "estimatedWaitSeconds": 1,
        "aheadOfYou": 0,
        "totalInQueue": tail,
    }
    second = await positions(Line(fake.ctx), m, DROP, NOW)
    told = [e.view.position for e in second]
    assert told == list(range(1, HEAD_WINDOW + 1)) + list(range(sweep_end + 1, tail + 1))
    assert m.sweep == 0  # the sweep reached the tail and starts again behind the window


async def test_positions_skip_holes_and_count_places_without_them() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, 4, holes=(2, 3))
    told = await positions(Line(fake.ctx), m, DROP, NOW)
    assert [(e.token, e.view.position) for e in told] == [
        (token(1), 1),
        (token(4), 2),
        (token(5), 3),
        (token(6), 4),
    ]


async def test_holders_write_back_once_and_clear_emptied_lists() -> None:
    fake = FakeContext(DROP)
    fake.set("fp:a", ["t1", "t2"])
    fake.set("ip:b", ["t1"])
    holders = Holders(fake.ctx)
    await holders.load(["fp:a", "ip:b", "fp:a", "ip:new"])
    assert holders.lists == {"fp:a": ["t1", "t2"], "ip:b": ["t1"], "ip:new": []}
    await holders.release("fp:a", "t1")
    await holders.release("ip:b", "t1")
    await holders.release("ip:b", "absent")
    assert fake.state("fp:a") == ["t1", "t2"]  # nothing written before save
    holders.save()
    assert fake.state("fp:a") == ["t2"]
    assert fake.state("ip:b") is None and fake.state("ip:new") is None


async def test_ending_a_waiting_token_frees_its_slot_device_and_network() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, 2)
    rec = await record_of(fake.ctx, token(1))
    assert rec is not None
    holders = Holders(fake.ctx)
    ended = await end_token(fake.ctx, m, holders, token(1), rec, NOW + 5)
    holders.save()
    assert (m.waiting, m.expired) == (1, 1)
    stored = fake.state(f"tok:{token(1)}")
    assert stored["status"] == "expired" and stored["endedAt"] == NOW + 5
    assert fake.state(f"fp:{digest(1, 'f')}") is None
    assert fake.state(f"ip:{digest(1, 'i')}") is None
    assert fake.state(f"fp:{digest(2, 'f')}") == [token(2)]
    assert ended.type == "queue_expired" and ended.view.status == "expired"


async def test_ending_a_ready_token_frees_a_ready_slot() -> None:
    fake = FakeContext(DROP)
    m = fill_line(fake, 1)
    m.waiting, m.ready = 0, 1
    rec = await record_of(fake.ctx, token(1))
    assert rec is not None
    rec.status, rec.expires_at = "ready", NOW + 60_000
    await end_token(fake.ctx, m, Holders(fake.ctx), token(1), rec, NOW)
    assert (m.waiting, m.ready, m.expired) == (0, 0, 1)
