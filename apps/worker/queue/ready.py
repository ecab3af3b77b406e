"""Admission itself, shared by the loop's tick and by a join into an empty line: the
budget (one token bucket, one clock) and the step from waiting to ready."""

from __future__ import annotations

from datetime import timedelta

from apps.worker import calls
from apps.worker.queue.object import BURST_SECONDS, TICK
from apps.worker.queue.state import Ctx, Loop, Meta, Record, batch_key, save_record
from apps.worker.queue.views import Emit, announce, view_of
from drop import durable
from drop.contracts import QueueConfig
from drop.domain.queue_rules import accrue_credit
from drop.durable import SweepIn


def first_credit(cfg: QueueConfig) -> float:
    """A new room's credit: one admission at once (less at a rate slower than a tick's)."""
    return min(1.0, cfg.rate * TICK.total_seconds())


def credited_until(loop: Loop) -> int:
    """Up to when the credit was earned (meta of an earlier build: its last tick)."""
    return loop.last_tick_at if loop.credit_at is None else loop.credit_at


def budget(meta: Meta, now: int) -> int:
    """Credit the room for the time since it was last credited, then how many tokens may be
    made ready now. Ticks and joins both credit from the one clock `credit_at`, so no
    stretch of time is earned twice."""
    loop, cfg = meta.loop, meta.cfg
    since = credited_until(loop)
    elapsed = (now - since) / 1000
    loop.credit = accrue_credit(loop.credit, cfg.rate, elapsed, cfg.rate * BURST_SECONDS)
    loop.credit_at = max(since, now)
    return max(0, min(int(loop.credit), cfg.max_concurrent - meta.ready))


def admit(ctx: Ctx, meta: Meta, recs: dict[str, Record], now: int) -> list[Emit]:
    """Waiting → ready, spending one credit each, as one admission batch (`rb:{n}`): one
    durable timer at the end of its ready window expires whichever of them are still unused
    then, so nothing holds the whole ready set and a spend or a tick never rewrites it."""
    window_ms = int(meta.cfg.ready_window_s * 1000)
    meta.waiting -= len(recs)
    meta.admitted += len(recs)
    meta.ready += len(recs)
    meta.loop.credit -= len(recs)
    batch = (meta.batches or 0) + 1
    for token, rec in recs.items():
        rec.status, rec.ready_at, rec.expires_at = "ready", now, now + window_ms
        rec.batch = batch
        save_record(ctx, token, rec)
    if recs:
        meta.batches = batch
        ctx.set(batch_key(batch), list(recs))
        delay = timedelta(milliseconds=window_ms)
        sweep = SweepIn(batch=batch, at=now + window_ms)
        calls.send(ctx, durable.QUEUE_SWEEP, sweep, key=ctx.key(), delay=delay)
    return [
        announce(ctx.key(), t, view_of(ctx.key(), t, r, meta, now), "queue_ready", "ready")
        for t, r in recs.items()
    ]
