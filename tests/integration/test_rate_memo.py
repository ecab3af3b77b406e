"""Rate limits counted from memory (drop/adapters/rate_limit.py, RateMemo): one write per
hit, and still exact when several replicas count the same address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from drop import events
from drop.adapters.kv_batch import BatchedKeyValue
from drop.adapters.nats_bus import Bus
from drop.adapters.rate_limit import RateLimiter, RateMemo
from tests.support.api_client import uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_buses(stack: Stack) -> AsyncIterator[tuple[Bus, Bus]]:
    first, second = await stack.connect_bus(uid("replica")), await stack.connect_bus(uid("replica"))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def count_reads(kv: BatchedKeyValue) -> list[str]:
    """Record every key read through `kv` (this test's own bus only)."""
    reads: list[str] = []
    read: Callable[..., Awaitable[Any]] = kv.get

    async def counted(key: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(key)
        return await read(key, *args, **kwargs)

    kv.get = counted  # type: ignore[method-assign]
    return reads


async def test_a_remembered_counter_is_counted_without_reading(
    two_buses: tuple[Bus, Bus],
) -> None:
    kv = await two_buses[0].kv(events.RATE_LIMIT_BUCKET)
    assert isinstance(kv, BatchedKeyValue)
    reads = count_reads(kv)
    limiter = RateLimiter(kv, memo=RateMemo())
    subject = uid("ip")
    hits = [await limiter.hit("memo", subject, 3, 60) for _ in range(3)]
    assert [h.count for h in hits] == [1, 2, 3] and all(h.allowed for h in hits)
    assert reads == []
    refused = await limiter.hit("memo", subject, 3, 60)
    assert not refused.allowed and refused.retry_after_s >= 1
    assert reads == [f"memo.{subject}"], "a refusal must come from a fresh read"


async def test_two_replicas_remembering_one_counter_stay_exact(
    two_buses: tuple[Bus, Bus],
) -> None:
    limiters = [
        RateLimiter(await bus.kv(events.RATE_LIMIT_BUCKET), memo=RateMemo()) for bus in two_buses
    ]
    subject = uid("ip")
    # Each replica first learns the counter, then both count at once, out of date.
    assert (await limiters[0].hit("memo", subject, 7, 60)).count == 1
    assert (await limiters[1].hit("memo", subject, 7, 60)).count == 2
    hits = await asyncio.gather(*(limiters[i % 2].hit("memo", subject, 7, 60) for i in range(20)))
    allowed = sorted(h.count for h in hits if h.allowed)
    assert allowed == [3, 4, 5, 6, 7]
    assert sum(not h.allowed for h in hits) == 15
