"""Group commit: concurrent requests share one call, and no request waits past its deadline
when the durable layer stalls (a stuck batch, or a queue behind one)."""

from __future__ import annotations

import asyncio

import pytest

from apps.api.batching import GroupCommit, Item, Result
from drop.adapters.restate_ingress import DurableCallError


class Layer:
    """The durable side of a group commit: records each call; `stall` holds calls open."""

    def __init__(self, failure: DurableCallError | None = None) -> None:
        self.calls: list[tuple[str, list[Item], str]] = []
        self.stall = asyncio.Event()
        self.stall.set()
        self.failure = failure

    async def send(self, key: str, items: list[Item], batch_id: str) -> list[Result]:
        self.calls.append((key, items, batch_id))
        await self.stall.wait()
        if self.failure is not None:
            raise self.failure
        return [{"ok": item} for item in items]


def stalled(failure: DurableCallError | None = None) -> Layer:
    """A layer whose calls stay open until `stall` is set."""
    layer = Layer(failure)
    layer.stall.clear()
    return layer


async def test_requests_arriving_while_a_batch_is_in_flight_go_together_as_the_next() -> None:
    layer = stalled()
    commit = GroupCommit(layer.send, wait_s=5)
    first = asyncio.create_task(commit.submit("d1", {"n": 0}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(commit.submit("d1", {"n": n})) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    layer.stall.set()
    answers = await asyncio.gather(first, *rest)
    assert answers == [{"ok": {"n": n}} for n in range(4)]
    assert [items for _, items, _ in layer.calls] == [[{"n": 0}], [{"n": 1}, {"n": 2}, {"n": 3}]]


async def test_a_request_queued_behind_a_stuck_batch_leaves_unsent_at_its_deadline() -> None:
    layer = stalled()
    commit = GroupCommit(layer.send, wait_s=0.3)
    stuck = asyncio.create_task(commit.submit("d1", {"n": 0}))
    await asyncio.sleep(0.1)
    with pytest.raises(DurableCallError) as queued:
        await asyncio.wait_for(commit.submit("d1", {"n": 1}), 5)
    assert (queued.value.status, queued.value.code) == (503, "durable_unavailable")
    with pytest.raises(DurableCallError) as in_flight:
        await asyncio.wait_for(stuck, 5)
    assert (in_flight.value.status, in_flight.value.code) == (504, "durable_timeout")
    layer.stall.set()
    # The queued request was never sent: nothing of it can land after its refusal.
    assert await commit.submit("d1", {"n": 2}) == {"ok": {"n": 2}}
    assert [items for _, items, _ in layer.calls] == [[{"n": 0}], [{"n": 2}]]


async def test_a_batch_whose_requests_all_had_their_answer_is_not_retried() -> None:
    layer = stalled(DurableCallError(504, "took too long", "durable_timeout"))
    commit = GroupCommit(layer.send, wait_s=0.2, retries=2)
    with pytest.raises(DurableCallError) as timed_out:
        await asyncio.wait_for(commit.submit("d1", {"n": 0}), 5)
    assert timed_out.value.status == 504
    layer.stall.set()  # the call ends in a 504 of its own only now
    await asyncio.sleep(0.05)
    assert len(layer.calls) == 1


async def test_a_lost_answer_is_retried_under_the_same_idempotency_key() -> None:
    layer = Layer(DurableCallError(503, "unavailable", "durable_unavailable"))
    commit = GroupCommit(layer.send, wait_s=5, retries=2)
    with pytest.raises(DurableCallError) as unavailable:
        await commit.submit("d1", {"n": 0})
    assert unavailable.value.status == 503
    assert len(layer.calls) == 3
    assert len({batch_id for _, _, batch_id in layer.calls}) == 1
