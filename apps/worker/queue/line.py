"""The line: its chunks, the walk from the head, holders of devices and networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.worker.queue.object import (
    CHUNK,
    HEAD_WINDOW,
    MAX_STEPS,
    SWEEP_BUDGET,
    AnyCtx,
    Ctx,
    Meta,
    Record,
    chunk_key,
)
from apps.worker.queue.views import Emit, announce, view_of
from drop.domain.queue_rules import token_is_well_formed


class Holders:
    """The `fp:*` and `ip:*` lists touched by one invocation, written back once."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.lists: dict[str, list[str]] = {}

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

    def save(self) -> None:
        for key, tokens in self.lists.items():
            if tokens:
                self.ctx.set(key, tokens)
            else:
                self.ctx.clear(key)


async def end_token(
    ctx: Ctx, meta: Meta, holders: Holders, token: str, rec: Record, now: int
) -> Emit:
    """Expire a waiting or ready token: free its slot, its device and its network."""
    if rec["status"] == "ready":
        meta["ready"] -= 1
    elif rec["status"] == "waiting":
        meta["waiting"] -= 1
    rec.update(status="expired", endedAt=now)
    meta["expired"] += 1
    ctx.set(f"tok:{token}", rec)
    await holders.release(f"fp:{rec['fp']}", token)
    await holders.release(f"ip:{rec['ip']}", token)
    view = view_of(ctx.key(), token, rec, meta, now)
    return announce(ctx.key(), token, view, "queue_expired", "expired")


class Line:
    """The line's chunks, each read at most once per invocation."""

    def __init__(self, ctx: AnyCtx) -> None:
        self.ctx = ctx
        self.chunks: dict[str, list[list[Any]]] = {}

    async def entry(self, seq: int) -> tuple[str, int, int]:
        """(token, joinedAt, waitUntil) of the token with sequence number `seq`."""
        key = chunk_key(seq)
        if key not in self.chunks:
            self.chunks[key] = list(await self.ctx.get(key, type_hint=list) or [])
        token, joined, wait_until = self.chunks[key][(seq - 1) % CHUNK]
        return str(token), int(joined), int(wait_until)


@dataclass
class Walk:
    """What one tick found at the head of the line."""

    too_old: list[str]
    admit: list[str]
    head: int


async def walk_line(line: Line, meta: Meta, quota: int, now: int) -> Walk:
    """From the head: tokens past their max age (expired in order) and up to `quota`
    tokens to admit; the new head is the first waiting token left in line."""
    holes, tail = set(meta["holes"]), int(meta["tail"])
    walk = Walk([], [], int(meta["head"]))
    steps = 0
    while walk.head <= tail and steps < MAX_STEPS:
        if walk.head in holes:
            walk.head += 1
            continue
        token, _, wait_until = await line.entry(walk.head)
        if now >= wait_until:
            walk.too_old.append(token)
        elif len(walk.admit) < quota:
            walk.admit.append(token)
        else:
            break
        walk.head += 1
        steps += 1
    return walk


async def records_of(ctx: Ctx, tokens: list[str]) -> list[Record]:
    """Read several token records at once (the reads are pipelined); {} when unknown."""
    futures = [
        ctx.get(f"tok:{t}", type_hint=dict) if token_is_well_formed(t) else None for t in tokens
    ]
    return [dict(await f or {}) if f is not None else {} for f in futures]


async def positions(line: Line, meta: Meta, drop_id: str, now: int) -> list[Emit]:
    """Position updates for the head window and the next stretch of the round-robin sweep."""
    holes, tail, head = set(meta["holes"]), int(meta["tail"]), int(meta["head"])
    seqs: list[int] = []
    s = head
    while len(seqs) < HEAD_WINDOW and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    window_end = s
    s = max(int(meta["sweep"]), window_end)
    budget = len(seqs) + SWEEP_BUDGET
    while len(seqs) < budget and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    meta["sweep"] = s if s <= tail else 0
    tag = f"t{meta['loop']['gen']}.{meta['loop']['ticks']}"
    out = []
    for seq in seqs:
        token, joined, wait_until = await line.entry(seq)
        rec = {"seq": seq, "status": "waiting", "joinedAt": joined, "waitUntil": wait_until}
        view = view_of(drop_id, token, rec, meta, now)
        out.append(announce(drop_id, token, view, "queue_position", tag))
    return out
