"""`Bus.get_json_many` (drop/adapters/kv_many.py), against a real nats-server: many keys of
a bucket read in one batch direct get answer exactly as one `get_json` per key would."""

from __future__ import annotations

import json

import pytest
from nats.js.errors import InvalidKeyError

from drop import events
from drop.adapters import kv_many
from drop.adapters.nats_bus import DIRECT_BUCKETS, Bus, ensure_layout
from tests.support.api_client import uid

pytestmark = pytest.mark.integration


async def _fill(bus: Bus, bucket: str, n: int) -> tuple[list[str], list[str], str]:
    """`n` keys with values, one deleted and one never written: (stored, asked, deleted)."""
    kv = await bus.kv(bucket)
    stored = [uid("u") for _ in range(n)]
    for i, key in enumerate(stored):
        await kv.put(key, json.dumps({"balance": i + 1}).encode())
    deleted, absent = uid("u"), uid("u")
    await kv.put(deleted, b'{"balance": 9}')
    await kv.delete(deleted)
    return stored, [*stored, deleted, absent, stored[0]], deleted


@pytest.mark.parametrize("n", [3, kv_many.MAX_SUBJECTS + 5])
async def test_a_batch_read_gives_each_key_its_value_and_leaves_out_the_rest(
    bus: Bus, n: int
) -> None:
    bucket = events.ROLLOVER_BUCKET
    assert (await bus.js.stream_info(f"KV_{bucket}")).config.allow_direct
    stored, asked, _ = await _fill(bus, bucket, n)
    found = await bus.get_json_many(bucket, asked)
    assert found == {k: {"balance": i + 1} for i, k in enumerate(stored)}
    for key in asked[-3:]:
        assert (await bus.get_json(bucket, key)) == found.get(key)


async def test_nothing_found_and_nothing_asked_read_as_empty(bus: Bus) -> None:
    assert await bus.get_json_many(events.LOYALTY_BUCKET, [uid("u"), uid("u")]) == {}
    assert await bus.get_json_many(events.LOYALTY_BUCKET, []) == {}


async def test_a_bucket_without_direct_gets_is_read_key_by_key_alike(bus: Bus) -> None:
    bucket = events.CONTACTS_BUCKET
    assert not (await bus.js.stream_info(f"KV_{bucket}")).config.allow_direct
    stored, asked, _ = await _fill(bus, bucket, 4)
    found = await bus.get_json_many(bucket, asked)
    assert found == {k: {"balance": i + 1} for i, k in enumerate(stored)}


async def test_a_key_that_is_not_a_key_is_refused_not_matched_as_a_wildcard(bus: Bus) -> None:
    with pytest.raises(InvalidKeyError):
        await bus.get_json_many(events.LOYALTY_BUCKET, [uid("u"), ">"])


async def test_a_mirror_bucket_an_earlier_build_made_gets_direct_gets(bus: Bus) -> None:
    """Buckets created without direct gets (as every build before this one made them) are
    switched on by the layout, keeping what they hold."""
    bucket = DIRECT_BUCKETS[0]
    info = await bus.js.stream_info(f"KV_{bucket}")
    info.config.allow_direct = False
    await bus.js.update_stream(info.config)
    key = uid("u")
    # A bus of its own: the session's bus would keep this bucket's handle without direct gets.
    before = Bus(nc=bus.nc, js=bus.js)
    await (await before.kv(bucket)).put(key, b'{"tier": "gold"}')
    await ensure_layout(bus.js)
    assert (await bus.js.stream_info(f"KV_{bucket}")).config.allow_direct
    fresh = Bus(nc=bus.nc, js=bus.js)
    assert await fresh.get_json_many(bucket, [key]) == {key: {"tier": "gold"}}
