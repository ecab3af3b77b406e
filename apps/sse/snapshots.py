"""Reads from JetStream and the key-value buckets: snapshots on connect, replays on reconnect."""

from __future__ import annotations

import json
import re
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from apps.sse.fanout import Item
from drop.drops_index import state_of

# Event ids are JetStream sequence numbers: unsigned 64-bit. Anything else is ignored.
_EVENT_ID = re.compile(r"[0-9]{1,20}")
MAX_EVENT_ID = 2**64 - 1


def parse_last_event_id(value: str | None) -> int | None:
    """The id a reconnecting client last saw, or None (a fresh snapshot) when it is not one
    of ours: not ASCII digits, or past what a stream sequence can be."""
    text = (value or "").strip()
    if not _EVENT_ID.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_EVENT_ID else None


async def last_on_subject(js: JetStreamContext, stream: str, subject: str) -> Item | None:
    try:
        raw = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return Item.parse(int(raw.seq or 0), subject, raw.data)


async def kv_json(kv: KeyValue, key: str) -> Any:
    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, NotFoundError):
        return None
    try:
        return json.loads(entry.value or b"")
    except ValueError:
        return None


async def indexed_drop(kv: KeyValue, drop_id: str) -> dict[str, Any] | None:
    try:
        entry = await kv.get(drop_id)
    except (KeyNotFoundError, NotFoundError):
        return None
    return state_of(entry.value)


async def replay(
    js: JetStreamContext,
    stream: str,
    subjects: list[str],
    after: int,
    upto: int,
    limit: int,
) -> list[Item] | None:
    """Every message on `subjects` with `after < seq <= upto`, in stream order.

    None when that cannot be told exactly or is not worth it: the gap reaches below what the
    stream still retains, the client claims an id we have not reached, or more than `limit`
    messages were missed. The caller then sends a fresh snapshot instead.
    """
    if after > upto:
        return None
    if after == upto:
        return []
    info = await js.stream_info(stream)
    if after + 1 < int(info.state.first_seq):
        return None
    items: list[Item] = []
    for subject in subjects:
        seq = after + 1
        while seq <= upto:
            try:
                raw = await js.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            found = int(raw.seq or 0)
            if found > upto or found < seq:
                break
            item = Item.parse(found, subject, raw.data)
            if item is not None:
                items.append(item)
            if len(items) > limit:
                return None
            seq = found + 1
    items.sort(key=lambda item: item.seq)
    return items
