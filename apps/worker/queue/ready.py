"""Admission itself, shared by the loop's tick and by a join into an empty line: the
budget (one token bucket, one clock) and the step from waiting to ready."""

from __future__ import annotations

from datetime import timedelta

from apps.worker import calls
from apps.worker.queue.object import BURST_SECONDS, SHARE_MS, TICK
from apps.worker.queue.state import (
    Bucket,
    Ctx,
    Loop,
    Meta,
    Record,
    batch_key,
    bucket_key,
    save_record,
)
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


def share_sweep(ctx: Ctx, meta: Meta, batch: int, now: int, window_ms: int) -> None:
    """One sweep timer for the admission batches whose windows end within SHARE_MS of the
    first's: a batch whose window ends by the open bucket's `until` joins it (no timer of
    its own); one that ends later closes it, writing down its last batch, and opens the
    next, whose timer fires SHARE_MS after its own window (so a ready token is swept at
    most that late; it can no longer be used from the end of its window)."""
    bucket, ends = meta.sweep_bucket, now + window_ms
    if bucket is not None and ends <= bucket.until:
        return
    if bucket is not None and batch - 1 > bucket.first:
        ctx.set(bucket_key(bucket.first), batch - 1)
    until = ends + share_ms(window_ms)
    meta.sweep_bucket = Bucket(first=batch, until=until)
    delay = timedelta(milliseconds=until - now)
    calls.send(ctx, durable.QUEUE_SWEEP, SweepIn(batch=batch, at=until), key=ctx.key(), delay=delay)


def share_ms(window_ms: int) -> int:
    """How much later than its window a ready token may be swept: SHARE_MS, or a tenth of
    a short window."""
    return min(SHARE_MS, window_ms // 10)


def admit(ctx: Ctx, meta: Meta, recs: dict[str, Record], now: int) -> list[Emit]:
    """Waiting → ready, spending one credit each, as one admission batch (`rb:{n}`): a
    durable timer at the end of its ready window (shared with the batches admitted close
    to it) expires whichever of them are still unused then, so nothing holds the whole
    ready set and a spend or a tick never rewrites it."""
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
        share_sweep(ctx, meta, batch, now, window_ms)
    return [
        announce(ctx.key(), t, view_of(ctx.key(), t, r, meta, now), "queue_ready", "ready")
        for t, r in recs.items()
    ]
