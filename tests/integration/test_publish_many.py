"""`Bus.publish_many` (drop/adapters/nats_bus.py), against a real nats-server: a journaled
step's events go out together and are acknowledged together, each keeping its own
Nats-Msg-Id, so a replayed step stores nothing twice."""

from __future__ import annotations

import json

import pytest
from nats.js.errors import NoStreamResponseError

from drop import events
from drop.adapters.nats_bus import Bus
from tests.support.api_client import uid

pytestmark = pytest.mark.integration


def _messages(n: int) -> list[tuple[str, dict[str, object], str]]:
    drop_id = uid("d")
    out = []
    for i in range(n):
        token, msg_id = uid("t"), uid("q")
        event = events.Event(id=msg_id, type="queue_position", data={"position": i + 1})
        out.append((events.queue_subject(drop_id, token), event.model_dump(), msg_id))
    return out


async def test_each_message_is_stored_once_with_its_own_id(bus: Bus) -> None:
    messages = _messages(30)
    seqs = await bus.publish_many(messages)
    assert len(set(seqs)) == 30
    for (subject, payload, msg_id), seq in zip(messages, seqs, strict=True):
        stored = await bus.js.get_msg(events.QUEUE_STREAM, seq)
        assert stored.subject == subject
        assert (stored.headers or {}).get("Nats-Msg-Id") == msg_id
        assert json.loads(stored.data or b"null") == payload
    last = (await bus.js.stream_info(events.QUEUE_STREAM)).state.last_seq
    # A replayed step publishes the same ids again: answered with the first copies' places.
    assert await bus.publish_many(messages) == seqs
    assert (await bus.js.stream_info(events.QUEUE_STREAM)).state.last_seq == last


async def test_a_message_no_stream_takes_fails_the_call_and_leaves_nothing_pending(
    bus: Bus,
) -> None:
    messages = _messages(3)
    messages.append((f"nowhere.{uid('x')}", {"n": 1}, uid("q")))
    with pytest.raises(NoStreamResponseError):
        await bus.publish_many(messages)
    assert bus.js.publish_async_pending() == 0
