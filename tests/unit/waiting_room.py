"""Shared pieces of the waiting room's unit tests: a config, tokens, hashes, a filled line."""

from __future__ import annotations

from apps.worker.queue.object import chunk_key
from apps.worker.queue.state import Meta, Record, save_meta, save_record
from drop.domain.queue_rules import make_queue_token
from tests.support.fake_context import FakeContext

DROP = "d1"
NOW = 1_700_000_000_000
# As stored in `meta.cfg` (and sent by the API with every join).
CFG = {
    "rate": 20.0,
    "maxConcurrent": 50,
    "readyWindowS": 60.0,
    "maxAgeS": 600.0,
    "maxPerFingerprint": 1,
    "maxPerIp": 3,
}
MAX_AGE_MS = 600_000


def token(n: int) -> str:
    return make_queue_token(DROP, f"{n:032x}")


def digest(n: int, kind: str = "f") -> str:
    """A well-formed hex digest; `kind` keeps devices and networks apart."""
    return ("a" if kind == "f" else "b") + f"{n:031x}"


def meta(**fields: object) -> Meta:
    return Meta.model_validate({"cfg": CFG, **fields})


def fill_line(fake: FakeContext, waiting: int, holes: tuple[int, ...] = ()) -> Meta:
    """A line of `waiting` tokens, joined at NOW, as joins would have stored it (each from
    its own device and network); the sequence numbers in `holes` left it before."""
    tail = waiting + len(holes)
    chunks: dict[str, list[list[object]]] = {}
    for seq in range(1, tail + 1):
        chunks.setdefault(chunk_key(seq), []).append([token(seq), NOW, NOW + MAX_AGE_MS])
        if seq in holes:
            continue
        rec = Record(
            seq=seq,
            status="waiting",
            fp=digest(seq, "f"),
            ip=digest(seq, "i"),
            joined_at=NOW,
            wait_until=NOW + MAX_AGE_MS,
        )
        save_record(fake.ctx, token(seq), rec)
        fake.set(f"fp:{rec.fp}", [token(seq)])
        fake.set(f"ip:{rec.ip}", [token(seq)])
    for key, rows in chunks.items():
        fake.set(key, rows)
    m = meta(tail=tail, waiting=waiting, holes=list(holes))
    save_meta(fake.ctx, m)
    return m
