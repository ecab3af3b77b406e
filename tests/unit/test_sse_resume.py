"""A client resuming on a replica that lags it: its stream goes on after its own
Last-Event-ID, with no snapshot and nothing it already has."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from apps.sse import streams
from apps.sse.fanout import Item


def item(seq: int, subject: str, version: int) -> Item:
    return Item(seq, subject, "registered", {"version": version, "status": "registered"})


async def test_a_client_ahead_of_this_replica_gets_no_snapshot_and_nothing_twice() -> None:
    rt: Any = SimpleNamespace(settings=SimpleNamespace(sse_retry_ms=3000))
    at, last = 670, 674  # this replica's live point, and the id the client already has
    view = streams.UserView(False, at)
    opening = await streams.user_opening(
        rt, view, "d1", "u1", {}, at, streams.Resumed(last, ahead=True)
    )
    assert opening == b"retry: 3000\n\n"  # no `connected` or `user` snapshot of an older state
    # The replica's tail then hands over what the client has, and what it has not.
    user = "drop.d1.user.u1"
    sent = view.batch([item(671, user, 3), item(674, user, 4), item(677, user, 5)])
    assert sent.count(b"id: ") == 1 and b"id: 677\n" in sent


async def test_a_queue_client_ahead_of_this_replica_goes_on_after_its_id() -> None:
    rt: Any = SimpleNamespace(settings=SimpleNamespace(sse_retry_ms=3000))
    view = streams.QueueView(10)
    opening = await streams.queue_opening(rt, view, "d1", "t1", 10, streams.Resumed(12, True))
    assert opening == b"retry: 3000\n\n"
    sent = view.batch(
        [item(11, "queue.d1.t1", 0), item(12, "queue.d1.t1", 0), item(13, "queue.d1.t1", 0)]
    )
    assert sent.count(b"id: ") == 1 and b"id: 13\n" in sent
