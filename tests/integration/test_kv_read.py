"""`kv_read.get` (drop/adapters/kv_read.py), against a real nats-server: every outcome of a
read is the one nats-py's `KeyValue.get` gives for the same key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.js.errors import InvalidKeyError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from drop import events
from drop.adapters import kv_read
from drop.adapters.nats_bus import Bus
from tests.support.api_client import uid

pytestmark = pytest.mark.integration


async def _outcome(read: Any) -> tuple[str, Any, Any]:
    """What a read gave: ("entry", value, revision) or ("missing", op, entry's revision)."""
    try:
        entry = await read
    except KeyNotFoundError as exc:
        return ("missing", exc.op, exc.entry.revision if exc.entry else None)
    return ("entry", entry.value, entry.revision)


async def _same(kv: KeyValue, key: str) -> tuple[str, Any, Any]:
    ours = await _outcome(kv_read.get(kv, key))
    assert ours == await _outcome(kv.get(key))
    return ours


@pytest.mark.parametrize(
    "bucket", [events.USER_CLAIMS_BUCKET, events.QUEUE_TOKENS_BUCKET, events.CONTACTS_BUCKET]
)
async def test_every_kind_of_key_reads_as_nats_py_reads_it(bus: Bus, bucket: str) -> None:
    kv = await bus.kv(bucket)
    plain, updated, deleted, purged, absent = (uid("k") for _ in range(5))
    first = await kv.put(plain, b'{"a": 1}')
    created = await kv.create(updated, b'{"v": 1}')
    second = await kv.update(updated, b'{"v": 2}', last=created)  # stored with headers
    await kv.put(deleted, b"{}")
    await kv.delete(deleted)
    await kv.put(purged, b"{}")
    await kv.purge(purged)

    assert await _same(kv, plain) == ("entry", b'{"a": 1}', first)
    assert await _same(kv, updated) == ("entry", b'{"v": 2}', second)
    assert (await _same(kv, deleted))[:2] == ("missing", KV_DEL)
    assert (await _same(kv, purged))[:2] == ("missing", KV_PURGE)
    assert await _same(kv, absent) == ("missing", None, None)
    assert await bus.get_json(bucket, updated) == {"v": 2}
    assert await bus.get_json(bucket, deleted) is None
    assert await bus.get_json(bucket, absent) is None


async def test_an_empty_value_and_a_rewritten_deleted_key_read_alike(bus: Bus) -> None:
    kv = await bus.kv(events.USER_CLAIMS_BUCKET)
    empty, again = uid("k"), uid("k")
    await kv.put(empty, b"")
    await kv.put(again, b"1")
    await kv.delete(again)
    back = await kv.create(again, json.dumps({"b": 2}).encode())
    assert (await _same(kv, empty))[0] == "entry"
    assert await bus.get_json(events.USER_CLAIMS_BUCKET, empty) is None
    assert await _same(kv, again) == ("entry", b'{"b": 2}', back)


async def test_a_bucket_with_direct_gets_is_read_by_nats_py_itself(bus: Bus) -> None:
    kv = await bus.kv(events.LOYALTY_BUCKET)
    assert kv._direct
    key = uid("k")
    revision = await kv.put(key, b'{"tier": "gold"}')
    assert await _same(kv, key) == ("entry", b'{"tier": "gold"}', revision)


async def test_a_key_that_is_not_a_key_is_refused_not_matched_as_a_wildcard(bus: Bus) -> None:
    kv = await bus.kv(events.USER_CLAIMS_BUCKET)
    for key in (">", "a.*", "", "a b"):
        with pytest.raises(InvalidKeyError):
            await kv_read.get(kv, key)


async def test_a_key_with_a_trailing_newline_is_asked_for_as_nats_py_asks(bus: Bus) -> None:
    """nats-py's key check lets one trailing newline through; the request quotes it alike."""
    kv = await bus.kv(events.USER_CLAIMS_BUCKET)
    assert await _same(kv, uid("k") + "\n") == ("missing", None, None)
