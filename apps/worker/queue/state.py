"""The waiting room's stored state as models, and the one place that reads and writes it.

The stored JSON keeps the camelCase keys it always had, and a key that is not set is not
written (a record gains `readyAt`, `usedBy`... as it moves on), so the state an earlier
build left loads as it is and is written back the same.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal

import restate
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from drop.contracts import QueueConfig
from drop.domain.queue_rules import token_is_well_formed

Ctx = restate.ObjectContext
AnyCtx = restate.ObjectContext | restate.ObjectSharedContext
Status = Literal["waiting", "ready", "used", "expired"]


class Stored(BaseModel):
    # Keys a later build may add are kept, so writing the state back never drops them.
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="allow"
    )

    def stored(self) -> dict[str, JsonValue]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Loop(Stored):
    """The admission loop: its generation, last tick, and the token bucket's credit."""

    active: bool = False
    gen: int = 0
    credit: float = 0.0
    # Also the loop's liveness clock (a join restarts a loop whose last tick is too old).
    last_tick_at: int = 0
    ticks: int = 0
    # Up to when `credit` was earned: ticks and joins that admit both credit from it.
    # Absent in meta an earlier build wrote, whose credit was earned up to its last tick.
    credit_at: int | None = None


class Bucket(Stored):
    """The admission batches whose windows end close together, swept by one timer: from
    batch `first` on, every batch whose window ends by `until` (the timer's time)."""

    first: int
    until: int


class Meta(Stored):
    """Key `meta`: the config, the line's head and tail, its holes, counters, the loop."""

    cfg: QueueConfig
    tail: int = 0
    head: int = 1
    holes: list[int] = Field(default_factory=list)
    waiting: int = 0
    ready: int = 0
    admitted: int = 0
    used: int = 0
    expired: int = 0
    loop: Loop = Field(default_factory=Loop)
    sweep: int = 0
    # Admission batches made so far (`rb:{n}`); absent until the first one.
    batches: int | None = None
    # The bucket new admission batches join while their windows end by its `until`;
    # absent in meta an earlier build wrote (its batches each had a timer of their own).
    sweep_bucket: Bucket | None = None


class Place(Stored):
    """What a token's view is computed from (a line entry gives the first four)."""

    seq: int
    status: Status
    joined_at: int
    wait_until: int
    ready_at: int | None = None
    expires_at: int | None = None
    used_by: str | None = None


class Record(Place):
    """Key `tok:{token}`: the token's place, its holder's hashes and when it moved on."""

    fp: str
    ip: str
    ended_at: int | None = None
    used_at: int | None = None
    # The admission batch (`rb:{n}`) that made it ready; absent in records an earlier build
    # admitted, whose spent tokens stay in their batch's list for the sweep to skip.
    batch: int | None = None


def meta_of(ctx: AnyCtx) -> Awaitable[Meta | None]:
    """The read of `meta`, begun now (so it runs alongside the reads that follow)."""
    return ctx.get("meta", type_hint=Meta)


def save_meta(ctx: Ctx, meta: Meta) -> None:
    ctx.set("meta", meta.stored())


async def record_of(ctx: AnyCtx, token: str) -> Record | None:
    if not token_is_well_formed(token):
        return None
    return await ctx.get(f"tok:{token}", type_hint=Record)


async def records_of(ctx: AnyCtx, tokens: list[str]) -> list[Record | None]:
    """Several token records, read at once (the reads are pipelined); None when unknown."""
    futures = [
        ctx.get(f"tok:{t}", type_hint=Record) if token_is_well_formed(t) else None for t in tokens
    ]
    return [await f if f is not None else None for f in futures]


def save_record(ctx: Ctx, token: str, rec: Record) -> None:
    ctx.set(f"tok:{token}", rec.stored())


def batch_key(batch: int) -> str:
    return f"rb:{batch}"


def bucket_key(first: int) -> str:
    """The last admission batch of the bucket from batch `first`, once a later one opened."""
    return f"rs:{first}"


# Spent tokens of one admission batch worth taking out of its list: that costs a read and
# a write of the list, and saves the sweep one record read per token taken out.
MIN_UNLISTED = 3


async def drop_from_batches(ctx: Ctx, spent: dict[str, Record]) -> None:
    """Take spent tokens out of their admission batches' lists, so a batch's sweep reads
    only the records of tokens still unspent (a list left empty is cleared). Where fewer
    than MIN_UNLISTED of a batch are spent at once (a quiet drop's registrations come one
    by one) they stay listed, and the sweep reads and skips them."""
    by_batch: dict[int, set[str]] = {}
    for token, rec in spent.items():
        if rec.batch is not None:
            by_batch.setdefault(rec.batch, set()).add(token)
    batches = sorted(n for n, tokens in by_batch.items() if len(tokens) >= MIN_UNLISTED)
    stored = [ctx.get(batch_key(n), type_hint=list) for n in batches]
    for n, future in zip(batches, stored, strict=True):
        tokens = await future
        if tokens is None:  # already swept
            continue
        left = [t for t in tokens if t not in by_batch[n]]
        if left:
            ctx.set(batch_key(n), left)
        else:
            ctx.clear(batch_key(n))
