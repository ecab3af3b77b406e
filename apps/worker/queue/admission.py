"""The admission loop: a chain of delayed ticks moving the head of the line."""

from __future__ import annotations

from datetime import timedelta

from apps.worker import calls, effects, metrics
from apps.worker.queue.line import Holders, Line, end_token, positions, records_of, walk_line
from apps.worker.queue.object import (
    BURST_SECONDS,
    TICK,
    Ctx,
    Meta,
    Record,
    config_of,
    queue_admission,
)
from apps.worker.queue.views import Emit, announce, emit, view_of
from apps.worker.typed import handler
from drop import durable
from drop.domain.queue_rules import accrue_credit
from drop.durable import Stale, SweepIn, Swept, Ticked, TickIn


@handler(queue_admission)
async def tick(ctx: Ctx, req: TickIn) -> Ticked | Stale:
    """One step of the admission loop; reschedules itself while anyone is waiting."""
    drop_id = ctx.key()
    raw_meta = await ctx.get("meta", type_hint=dict)
    if raw_meta is None or not raw_meta["loop"]["active"]:
        return Stale(stale=True)
    meta = dict(raw_meta)
    loop = meta["loop"]
    if req.gen != loop["gen"]:
        return Stale(stale=True)
    cfg = config_of(meta)
    now = await effects.now_ms(ctx, "tick time")
    holders = Holders(ctx)
    ended: list[Emit] = []
    elapsed = (now - loop["lastTickAt"]) / 1000
    loop["credit"] = accrue_credit(loop["credit"], cfg.rate, elapsed, cfg.rate * BURST_SECONDS)
    loop["lastTickAt"], loop["ticks"] = now, loop["ticks"] + 1
    quota = max(0, min(int(loop["credit"]), cfg.max_concurrent - int(meta["ready"])))
    line = Line(ctx)
    walk = await walk_line(line, meta, quota, now)
    too_old, to_admit = await records_of(ctx, walk.too_old), await records_of(ctx, walk.admit)
    for token, rec in zip(walk.too_old, too_old, strict=True):
        ended.append(await end_token(ctx, meta, holders, token, rec, now))
    moved = walk.head != meta["head"]
    meta["holes"] = [h for h in meta["holes"] if h >= walk.head]
    meta["head"] = walk.head
    admitted = admit(ctx, meta, dict(zip(walk.admit, to_admit, strict=True)), now)
    loop["credit"] -= len(admitted)
    if meta["waiting"] > 0:
        calls.send(ctx, durable.QUEUE_TICK, TickIn(gen=loop["gen"]), key=drop_id, delay=TICK)
    else:
        loop["active"] = False
    told = await positions(line, meta, drop_id, now) if moved else []
    holders.save()
    ctx.set("meta", meta)
    await emit(ctx, "tick events", drop_id, ended, admitted, told, meta=meta)
    metrics.count(metrics.QUEUE_ADMISSIONS, drop_id, len(admitted))
    metrics.count(metrics.QUEUE_EXPIRIES, drop_id, len(ended))
    return Ticked(
        admitted=len(admitted), expired=len(ended), waiting=meta["waiting"], ready=meta["ready"]
    )


def admit(ctx: Ctx, meta: Meta, recs: dict[str, Record], now: int) -> list[Emit]:
    """Waiting → ready, as one admission batch (`rb:{n}`): one durable timer at the end of
    its ready window expires whichever of them are still unused then, so nothing holds the
    whole ready set and a spend or a tick never rewrites it."""
    window_ms = int(config_of(meta).ready_window_s * 1000)
    meta["waiting"] -= len(recs)
    meta["admitted"] += len(recs)
    meta["ready"] += len(recs)
    for token, rec in recs.items():
        rec.update(status="ready", readyAt=now, expiresAt=now + window_ms)
        ctx.set(f"tok:{token}", rec)
    if recs:
        batch = int(meta.get("batches", 0)) + 1
        meta["batches"] = batch
        ctx.set(f"rb:{batch}", list(recs))
        delay = timedelta(milliseconds=window_ms)
        sweep = SweepIn(batch=batch, at=now + window_ms)
        calls.send(ctx, durable.QUEUE_SWEEP, sweep, key=ctx.key(), delay=delay)
    return [
        announce(ctx.key(), t, view_of(ctx.key(), t, r, meta, now), "queue_ready", "ready")
        for t, r in recs.items()
    ]


@handler(queue_admission)
async def sweepReady(ctx: Ctx, req: SweepIn) -> Swept:
    """Expire the tokens of one admission batch that are still unused at its window's end."""
    batch, at = req.batch, req.at
    meta_f, tokens_f = ctx.get("meta", type_hint=dict), ctx.get(f"rb:{batch}", type_hint=list)
    raw_meta, tokens = await meta_f, [str(t) for t in await tokens_f or []]
    if raw_meta is None or not tokens:
        return Swept(expired=0)
    now = await effects.now_ms(ctx, "sweep time")
    if now < at:  # early by this clock: look again when the window really ends
        delay = timedelta(milliseconds=at - now)
        calls.send(ctx, durable.QUEUE_SWEEP, req, key=ctx.key(), delay=delay)
        return Swept(expired=0)
    meta = dict(raw_meta)
    recs = await records_of(ctx, tokens)
    holders = Holders(ctx)
    await holders.load([k for r in recs if r.get("status") == "ready" for k in _holds(r)])
    ended = [
        await end_token(ctx, meta, holders, token, rec, now)
        for token, rec in zip(tokens, recs, strict=True)
        if rec.get("status") == "ready"
    ]
    ctx.clear(f"rb:{batch}")
    holders.save()
    ctx.set("meta", meta)
    await emit(ctx, "sweep events", ctx.key(), ended, meta=meta)
    metrics.count(metrics.QUEUE_EXPIRIES, ctx.key(), len(ended))
    return Swept(expired=len(ended))


def _holds(rec: Record) -> list[str]:
    return [f"fp:{rec['fp']}", f"ip:{rec['ip']}"]
