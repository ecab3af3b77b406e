"""The line: its chunks, the walk from the head, holders of devices and networks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from apps.worker.queue.object import CHUNK, HEAD_WINDOW, MAX_STEPS, SWEEP_BUDGET, chunk_key
from apps.worker.queue.state import AnyCtx, Ctx, Meta, Place, Record, records_of, save_record
from apps.worker.queue.views import Emit, announce, view_of


class Holders:
    """The `fp:*` and `ip:*` lists touched by one invocation, written back once."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.lists: dict[str, list[str]] = {}
        self.cleared: set[str] = set()

    async def load(self, keys: list[str]) -> None:
        """Read several lists at once (the reads are pipelined)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self.lists]
        futures = [self.ctx.get(k, type_hint=list) for k in wanted]
        for key, future in zip(wanted, futures, strict=True):
            self.lists[key] = list(await future or [])

    async def release(self, key: str, token: str) -> None:
        if key not in self.lists:
            self.lists[key] = list(await self.ctx.get(key, type_hint=list) or [])
        if token in self.lists[key]:
            self.lists[key].remove(token)

    async def drop_spent(self, key: str, made: Mapping[str, Record]) -> bool:
        """Take the tokens spent since they were listed out of a network's list (a spend
        leaves them there, which saves every registration a read and a write of the list);
        True when that freed a place. Asked only for a network at its limit, at most once
        per list and invocation; the records are read in the list's order, so a replay
        reads the same ones. Tokens in `made` were made by this invocation (unsaved)."""
        if key in self.cleared:
            return False
        self.cleared.add(key)
        listed = self.lists[key]
        older = [t for t in listed if t not in made]
        recs = dict(zip(older, await records_of(self.ctx, older), strict=True))
        self.lists[key] = [t for t in listed if t in made or holds_place(recs[t])]
        return len(self.lists[key]) < len(listed)

    def save(self) -> None:
        for key, tokens in self.lists.items():
            if tokens:
                self.ctx.set(key, tokens)
            else:
                self.ctx.clear(key)


def holds_place(rec: Record | None) -> bool:
    return rec is not None and rec.status in ("waiting", "ready")


async def end_token(
    ctx: Ctx, meta: Meta, holders: Holders, token: str, rec: Record, now: int
) -> Emit:
    """Expire a waiting or ready token: free its slot, its device and its network."""
    if rec.status == "ready":
        meta.ready -= 1
    elif rec.status == "waiting":
        meta.waiting -= 1
    rec.status, rec.ended_at = "expired", now
    meta.expired += 1
    save_record(ctx, token, rec)
    await holders.release(f"fp:{rec.fp}", token)
    await holders.release(f"ip:{rec.ip}", token)
    view = view_of(ctx.key(), token, rec, meta, now)
    return announce(ctx.key(), token, view, "queue_expired", "expired")


class InLine(NamedTuple):
    """A token's entry in a line chunk, stored as the JSON list `[token, joinedAt, waitUntil]`."""

    token: str
    joined_at: int
    wait_until: int

    def place(self, seq: int) -> Place:
        """Its place while it waits (the line holds only waiting tokens ahead of the head)."""
        return Place(
            seq=seq, status="waiting", joined_at=self.joined_at, wait_until=self.wait_until
        )


class Line:
    """The line's chunks, each read at most once per invocation and written back once."""

    def __init__(self, ctx: AnyCtx) -> None:
        self.ctx = ctx
        self.chunks: dict[str, list[InLine]] = {}
        self.changed: dict[str, None] = {}

    async def _chunk(self, seq: int) -> list[InLine]:
        key = chunk_key(seq)
        if key not in self.chunks:
            stored = await self.ctx.get(key, type_hint=list) or []
            self.chunks[key] = [InLine(str(t), int(j), int(w)) for t, j, w in stored]
        return self.chunks[key]

    async def entry(self, seq: int) -> InLine:
        """The entry of the token with sequence number `seq`."""
        return (await self._chunk(seq))[(seq - 1) % CHUNK]

    async def append(self, seq: int, entry: InLine) -> None:
        """Add the entry of the line's new tail `seq`."""
        (await self._chunk(seq)).append(entry)
        self.changed[chunk_key(seq)] = None

    def save(self, ctx: Ctx) -> None:
        for key in self.changed:
            # Entries are tuples: stored as the same JSON lists, with no copy of the chunk.
            ctx.set(key, self.chunks[key])


@dataclass
class Walk:
    """What one tick found at the head of the line."""

    too_old: list[str]
    admit: list[str]
    head: int


async def walk_line(line: Line, meta: Meta, quota: int, now: int) -> Walk:
    """From the head: tokens past their max age (expired in order) and up to `quota`
    tokens to admit; the new head is the first waiting token left in line."""
    holes, tail = set(meta.holes), meta.tail
    walk = Walk([], [], meta.head)
    steps = 0
    while walk.head <= tail and steps < MAX_STEPS:
        if walk.head in holes:
            walk.head += 1
            continue
        entry = await line.entry(walk.head)
        if now >= entry.wait_until:
            walk.too_old.append(entry.token)
        elif len(walk.admit) < quota:
            walk.admit.append(entry.token)
        else:
            break
        walk.head += 1
        steps += 1
    return walk


async def positions(line: Line, meta: Meta, drop_id: str, now: int) -> list[Emit]:
    """Position updates for the head window and the next stretch of the round-robin sweep."""
    holes, tail, head = set(meta.holes), meta.tail, meta.head
    seqs: list[int] = []
    s = head
    while len(seqs) < HEAD_WINDOW and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    window_end = s
    s = max(meta.sweep, window_end)
    budget = len(seqs) + SWEEP_BUDGET
    while len(seqs) < budget and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    meta.sweep = s if s <= tail else 0
    tag = f"t{meta.loop.gen}.{meta.loop.ticks}"
    out = []
    for seq in seqs:
        entry = await line.entry(seq)
        view = view_of(drop_id, entry.token, entry.place(seq), meta, now)
        out.append(announce(drop_id, entry.token, view, "queue_position", tag, store=False))
    return out
