"""The admission loop: a chain of delayed ticks moving the head of the line."""

from __future__ import annotations

from datetime import timedelta

from apps.worker import calls, effects, metrics
from apps.worker.queue.line import Holders, Line, end_token, positions, walk_line
from apps.worker.queue.object import TICK, queue_admission
from apps.worker.queue.ready import admit, budget
from apps.worker.queue.state import (
    Ctx,
    Record,
    batch_key,
    bucket_key,
    meta_of,
    records_of,
    save_meta,
)
from apps.worker.queue.views import Emit, emit
from apps.worker.typed import handler
from drop import durable
from drop.durable import Stale, SweepIn, Swept, Ticked, TickIn


@handler(queue_admission)
async def tick(ctx: Ctx, req: TickIn) -> Ticked | Stale:
    """One step of the admission loop; reschedules itself while anyone is waiting."""
    drop_id = ctx.key()
    meta = await meta_of(ctx)
    if meta is None or not meta.loop.active:
        return Stale(stale=True)
    loop = meta.loop
    if req.gen != loop.gen:
        return Stale(stale=True)
    now = await effects.now_ms(ctx, "tick time")
    holders = Holders(ctx)
    ended: list[Emit] = []
    quota = budget(meta, now)
    loop.last_tick_at, loop.ticks = now, loop.ticks + 1
    line = Line(ctx)
    walk = await walk_line(line, meta, quota, now)
    too_old = _in_line(walk.too_old, await records_of(ctx, walk.too_old))
    to_admit = _in_line(walk.admit, await records_of(ctx, walk.admit))
    for token, rec in too_old.items():
        ended.append(await end_token(ctx, meta, holders, token, rec, now))
    moved = walk.head != meta.head
    meta.holes = [h for h in meta.holes if h >= walk.head]
    meta.head = walk.head
    admitted = admit(ctx, meta, to_admit, now)
    if meta.waiting > 0:
        calls.send(ctx, durable.QUEUE_TICK, TickIn(gen=loop.gen), key=drop_id, delay=TICK)
    else:
        loop.active = False
    told = await positions(line, meta, drop_id, now) if moved else []
    holders.save()
    save_meta(ctx, meta)
    await emit(ctx, "tick events", drop_id, ended, admitted, told, meta=meta)
    metrics.count(metrics.QUEUE_ADMISSIONS, drop_id, len(admitted))
    metrics.count(metrics.QUEUE_EXPIRIES, drop_id, len(ended))
    return Ticked(
        admitted=len(admitted), expired=len(ended), waiting=meta.waiting, ready=meta.ready
    )


def _in_line(tokens: list[str], recs: list[Record | None]) -> dict[str, Record]:
    """The records of tokens taken from the line. A join writes both at once, so a missing
    one is a bug: raised (and retried, then paused) rather than skipped."""
    missing = [t for t, r in zip(tokens, recs, strict=True) if r is None]
    if missing:
        raise LookupError(f"tokens in line without a record: {missing[:3]}")
    return {t: r for t, r in zip(tokens, recs, strict=True) if r is not None}


@handler(queue_admission)
async def sweepReady(ctx: Ctx, req: SweepIn) -> Swept:
    """Expire the tokens still unused at their window's end, of every admission batch this
    timer sweeps: the bucket from batch `req.batch` on (`ready.share_sweep`), or that one
    batch (a timer an earlier build set)."""
    first, at = req.batch, req.at
    meta_f, closed_f = meta_of(ctx), ctx.get(bucket_key(first), type_hint=int)
    meta, closed = await meta_f, await closed_f
    if meta is None:
        return Swept(expired=0)
    still_open = meta.sweep_bucket is not None and meta.sweep_bucket.first == first
    last = closed if closed is not None else (meta.batches or first) if still_open else first
    listed = await _listed(ctx, range(first, last + 1))
    if not still_open and not listed:
        if closed is not None:
            ctx.clear(bucket_key(first))
        return Swept(expired=0)
    now = await effects.now_ms(ctx, "sweep time")
    if now < at:  # early by this clock: look again when the window really ends
        delay = timedelta(milliseconds=at - now)
        calls.send(ctx, durable.QUEUE_SWEEP, req, key=ctx.key(), delay=delay)
        return Swept(expired=0)
    tokens = [t for batch in listed.values() for t in batch]
    recs = await records_of(ctx, tokens)
    ready = {
        t: r for t, r in zip(tokens, recs, strict=True) if r is not None and r.status == "ready"
    }
    holders = Holders(ctx)
    await holders.load([k for r in ready.values() for k in (f"fp:{r.fp}", f"ip:{r.ip}")])
    ended = [await end_token(ctx, meta, holders, token, rec, now) for token, rec in ready.items()]
    for batch in listed:
        ctx.clear(batch_key(batch))
    if closed is not None:
        ctx.clear(bucket_key(first))
    if still_open:  # swept at its `until`: no batch admitted from now on can join it
        meta.sweep_bucket = None
    holders.save()
    save_meta(ctx, meta)
    await emit(ctx, "sweep events", ctx.key(), ended, meta=meta)
    metrics.count(metrics.QUEUE_EXPIRIES, ctx.key(), len(ended))
    return Swept(expired=len(ended))


async def _listed(ctx: Ctx, batches: range) -> dict[int, list[str]]:
    """The tokens still listed in each of these admission batches (read at once); batches
    already cleared are left out."""
    futures = [ctx.get(batch_key(n), type_hint=list) for n in batches]
    found = {n: await f for n, f in zip(batches, futures, strict=True)}
    return {n: [str(t) for t in tokens] for n, tokens in found.items() if tokens}
