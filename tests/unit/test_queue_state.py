"""The waiting room's stored state: typed in code, stored as the same JSON as before."""

from __future__ import annotations

import json

from apps.worker.queue.state import Meta, Record, meta_of, record_of, save_meta, save_record
from tests.support.fake_context import FakeContext
from tests.unit.waiting_room import CFG

TOKEN = "ab" * 20
# `meta` exactly as the previous build stored it before its first admission (no `batches`).
STORED_META = {
    "cfg": CFG,
    "tail": 7,
    "head": 3,
    "holes": [4, 6],
    "waiting": 3,
    "ready": 1,
    "admitted": 2,
    "used": 1,
    "expired": 2,
    "loop": {"active": True, "gen": 2, "credit": 0.75, "lastTickAt": 1_000, "ticks": 9},
    "sweep": 0,
}
# A token's record as the previous build stored it once used (keys added as it moved on).
STORED_RECORD = {
    "seq": 2,
    "status": "used",
    "fp": "f" * 16,
    "ip": "e" * 16,
    "joinedAt": 100,
    "waitUntil": 600_100,
    "readyAt": 200,
    "expiresAt": 60_200,
    "usedAt": 300,
    "usedBy": "u1",
}


def round_trip(value: object) -> object:
    return json.loads(json.dumps(value))


def test_stored_meta_loads_typed_and_stores_as_the_same_json() -> None:
    meta = Meta.model_validate(round_trip(STORED_META))
    assert meta.cfg.max_concurrent == 50 and meta.holes == [4, 6]
    assert meta.loop.last_tick_at == 1_000 and meta.loop.credit == 0.75
    assert meta.batches is None
    assert round_trip(meta.stored()) == STORED_META


def test_batches_is_stored_once_there_is_one() -> None:
    meta = Meta.model_validate({**STORED_META, "batches": 4})
    assert meta.batches == 4 and meta.stored()["batches"] == 4


def test_a_new_meta_starts_an_empty_line() -> None:
    meta = Meta.model_validate({"cfg": CFG})
    assert (meta.head, meta.tail, meta.waiting, meta.holes) == (1, 0, 0, [])
    assert meta.loop.active is False and meta.loop.gen == 0
    assert set(meta.stored()) == set(STORED_META)


def test_stored_records_load_typed_and_store_as_the_same_json() -> None:
    rec = Record.model_validate(round_trip(STORED_RECORD))
    assert rec.status == "used" and rec.used_by == "u1" and rec.ended_at is None
    assert round_trip(rec.stored()) == STORED_RECORD
    waiting = {k: STORED_RECORD[k] for k in ("seq", "fp", "ip", "joinedAt", "waitUntil")}
    waiting["status"] = "waiting"
    assert round_trip(Record.model_validate(waiting).stored()) == waiting


def test_a_record_names_its_admission_batch_once_admitted_by_this_build() -> None:
    rec = Record.model_validate(round_trip(STORED_RECORD))
    assert rec.batch is None and "batch" not in rec.stored()
    rec.batch = 5
    assert round_trip(rec.stored()) == {**STORED_RECORD, "batch": 5}
    assert Record.model_validate({**STORED_RECORD, "batch": 5}).batch == 5


def test_keys_a_later_build_adds_are_kept_when_written_back() -> None:
    rec = Record.model_validate({**STORED_RECORD, "note": "from a later build"})
    assert rec.stored()["note"] == "from a later build"


async def test_load_and_save_go_through_the_object_state() -> None:
    fake = FakeContext("d1")
    fake.set("meta", STORED_META)
    fake.set(f"tok:{TOKEN}", STORED_RECORD)
    meta, rec = await meta_of(fake.ctx), await record_of(fake.ctx, TOKEN)
    assert meta is not None and rec is not None
    meta.ready, rec.status = 0, "expired"
    save_meta(fake.ctx, meta)
    save_record(fake.ctx, TOKEN, rec)
    assert fake.state("meta") == {**STORED_META, "ready": 0}
    assert fake.state(f"tok:{TOKEN}") == {**STORED_RECORD, "status": "expired"}
    assert await record_of(fake.ctx, "not a token") is None
    assert await meta_of(FakeContext("empty").ctx) is None
