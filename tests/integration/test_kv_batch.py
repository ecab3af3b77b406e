"""The guards' key-value writes in atomic batches (drop/adapters/kv_batch.py), against a
real nats-server: fewer round trips, and every compare-and-set as strict as alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError

from drop import events
from drop.adapters.kv_batch import MIN_ATOMIC, BatchedKeyValue
from drop.adapters.nats_bus import BATCHED_BUCKETS, Bus
from drop.adapters.session_store import UserSessionStore
from drop.domain.sessions import Session
from tests.support.api_client import now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

# Enough concurrent writes that those past the first MIN_ATOMIC (sent one by one) gather
# into atomic batches.
CROWD = 3 * MIN_ATOMIC


@pytest.fixture
async def own_bus(stack: Stack) -> AsyncIterator[Bus]:
    bus = await stack.connect_bus(uid("kv-batch"))
    try:
        yield bus
    finally:
        await bus.close()


async def batched(bus: Bus, bucket: str) -> BatchedKeyValue:
    kv = await bus.kv(bucket)
    assert isinstance(kv, BatchedKeyValue), f"{bucket} writes are not batched"
    return kv


async def test_every_guard_bucket_takes_atomic_batches(own_bus: Bus) -> None:
    assert own_bus.atomic == frozenset(BATCHED_BUCKETS)
    assert not isinstance(await own_bus.kv(events.DROPS_INDEX_BUCKET), BatchedKeyValue)


async def test_concurrent_writes_share_round_trips_and_keep_their_revisions(own_bus: Bus) -> None:
    kv = await batched(own_bus, events.USER_CLAIMS_BUCKET)
    keys = [uid("claim") for _ in range(CROWD)]
    before = kv.round_trips
    revisions = await asyncio.gather(*(kv.create(k, k.encode()) for k in keys))
    assert kv.round_trips - before <= MIN_ATOMIC + 10, "concurrent creates were not batched"
    for key, revision in zip(keys, revisions, strict=True):
        entry = await kv.get(key)
        assert entry.value == key.encode() and entry.revision == revision


async def test_a_draws_loyalty_puts_share_round_trips_and_overwrite(own_bus: Bus) -> None:
    """After a draw every participant's `UserLoyalty` puts its mirror at once: plain puts,
    over keys that may hold an earlier drop's figures."""
    kv = await batched(own_bus, events.LOYALTY_BUCKET)
    keys = [uid("loyal") for _ in range(CROWD)]
    await asyncio.gather(*(kv.put(k, b"old") for k in keys))
    before = kv.round_trips
    await asyncio.gather(*(kv.put(k, k.encode()) for k in keys))
    assert kv.round_trips - before <= MIN_ATOMIC + 10, "concurrent puts were not batched"
    assert [(await kv.get(k)).value for k in keys] == [k.encode() for k in keys]


async def test_a_lost_race_in_a_batch_refuses_only_its_own_write(own_bus: Bus) -> None:
    kv = await batched(own_bus, events.USER_CLAIMS_BUCKET)
    taken = uid("claim")
    await kv.create(taken, b"first")
    fresh = [uid("claim") for _ in range(CROWD)]
    middle = CROWD - MIN_ATOMIC // 2  # among the writes that gather into a batch
    before = kv.round_trips
    outcomes = await asyncio.gather(
        *(kv.create(k, b"new") for k in fresh[:middle]),
        kv.create(taken, b"second"),
        *(kv.create(k, b"new") for k in fresh[middle:]),
        return_exceptions=True,
    )
    # The rejected batch was replayed write by write.
    assert kv.round_trips - before > MIN_ATOMIC + 1
    assert isinstance(outcomes[middle], KeyWrongLastSequenceError)
    assert (await kv.get(taken)).value == b"first"
    for key in fresh:
        assert (await kv.get(key)).value == b"new"


async def test_compare_and_set_has_exactly_one_winner(own_bus: Bus) -> None:
    kv = await batched(own_bus, events.RATE_LIMIT_BUCKET)
    key = uid("rate")
    revision = await kv.create(key, b"0")
    outcomes = await asyncio.gather(
        *(kv.update(key, str(i).encode(), last=revision) for i in range(CROWD)),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, int)]
    assert len(won) == 1
    assert all(isinstance(o, KeyWrongLastSequenceError) for o in outcomes if o not in won)
    assert (await kv.get(key)).revision == won[0]


async def test_a_challenge_deleted_on_its_revision_is_spent_once(own_bus: Bus) -> None:
    kv = await batched(own_bus, events.POW_BUCKET)
    keys = [uid("pow") for _ in range(CROWD)]
    revisions = await asyncio.gather(*(kv.create(k, b"issued") for k in keys))
    spends = [kv.delete(k, last=r) for k, r in zip(keys, revisions, strict=True) for _ in range(3)]
    outcomes = await asyncio.gather(*spends, return_exceptions=True)
    assert sum(o is True for o in outcomes) == len(keys)
    assert all(isinstance(o, APIError) for o in outcomes if o is not True)
    for key in keys:
        with pytest.raises(KeyNotFoundError):
            await kv.get(key)


async def test_a_deleted_key_can_be_created_again(own_bus: Bus) -> None:
    kv = await batched(own_bus, events.USER_CLAIMS_BUCKET)
    key = uid("claim")
    await kv.delete(key, last=await kv.create(key, b"one"))
    others = [kv.create(uid("claim"), b"other") for _ in range(CROWD)]
    again = await asyncio.gather(*others, kv.create(key, b"two"))
    assert (await kv.get(key)).revision == again[-1]


async def test_a_first_session_is_created_unread_and_never_overwrites_a_record(
    own_bus: Bus,
) -> None:
    sessions = UserSessionStore(await batched(own_bus, events.USER_SESSIONS_BUCKET))
    user, now = uid("user"), now_ms()
    older, newer = (Session(uid("s"), now, now + 60_000, "test") for _ in range(2))
    await sessions.add(user, older, first=True)
    await sessions.add(user, newer, first=True)  # a record exists: added to, not replaced
    assert [s.session_id for s in await sessions.live(user)] == [
        older.session_id,
        newer.session_id,
    ]
