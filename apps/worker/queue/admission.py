"""The admission loop: a chain of delayed ticks moving the head of the line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
from drop.domain.queue_rules import (
    accrue_credit,
)


@queue_admission.handler()
@effects.bad_input_is_terminal
async def tick(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """One step of the admission loop; reschedules itself while anyone is waiting."""
    drop_id = ctx.key()
    meta_f, ready_f = ctx.get("meta", type_hint=dict), ctx.get("ready", type_hint=dict)
    raw_meta, raw_ready = await meta_f, await ready_f
    if raw_meta is None or not raw_meta["loop"]["active"]:
        return {"stale": True}
    meta, ready = dict(raw_meta), {str(k): int(v) for k, v in (raw_ready or {}).items()}
    loop = meta["loop"]
    if req.get("gen") != loop["gen"]:
        return {"stale": True}
    cfg = config_of(meta)
    now = await effects.now_ms(ctx, "tick time")
    holders = Holders(ctx)
    ended: list[Emit] = []
    # Ready windows that ended; their timers may still be queued behind this tick.
    lapsed = sorted((t for t, at in ready.items() if at <= now), key=ready.__getitem__)
    for token, rec in zip(lapsed, await records_of(ctx, lapsed), strict=True):
        ended.append(await end_token(ctx, meta, ready, holders, token, rec, now))
    elapsed = (now - loop["lastTickAt"]) / 1000
    loop["credit"] = accrue_credit(loop["credit"], cfg.rate, elapsed, cfg.rate * BURST_SECONDS)
    loop["lastTickAt"], loop["ticks"] = now, loop["ticks"] + 1
    quota = max(0, min(int(loop["credit"]), cfg.max_concurrent - len(ready)))
    line = Line(ctx)
    walk = await walk_line(line, meta, quota, now)
    too_old, to_admit = await records_of(ctx, walk.too_old), await records_of(ctx, walk.admit)
    for token, rec in zip(walk.too_old, too_old, strict=True):
        ended.append(await end_token(ctx, meta, ready, holders, token, rec, now))
    moved = walk.head != meta["head"]
    meta["holes"] = [h for h in meta["holes"] if h >= walk.head]
    meta["head"] = walk.head
    admitted = admit(ctx, meta, ready, dict(zip(walk.admit, to_admit, strict=True)), now)
    loop["credit"] -= len(admitted)
    if meta["waiting"] > 0:
        calls.send(ctx, calls.QUEUE_TICK, {"gen": loop["gen"]}, key=drop_id, delay=TICK)
    else:
        loop["active"] = False
    told = await positions(line, meta, drop_id, now) if moved else []
    holders.save()
    ctx.set("ready", ready)
    ctx.set("meta", meta)
    await emit(ctx, "tick events", drop_id, ended, admitted, told, meta=meta)
    metrics.count(metrics.QUEUE_ADMISSIONS, drop_id, len(admitted))
    metrics.count(metrics.QUEUE_EXPIRIES, drop_id, len(ended))
    return {
        "admitted": len(admitted),
        "expired": len(ended),
        "waiting": meta["waiting"],
        "ready": meta["ready"],
    }


def admit(
    ctx: Ctx, meta: Meta, ready: dict[str, int], recs: dict[str, Record], now: int
) -> list[Emit]:
    """Waiting → ready. One durable timer at the end of this batch's ready window expires
    whichever of them are still unused then (the tick also expires lapsed ones while the
    loop runs), instead of one timer per token."""
    window_ms = int(config_of(meta).ready_window_s * 1000)
    meta["waiting"] -= len(recs)
    meta["admitted"] += len(recs)
    for token, rec in recs.items():
        rec.update(status="ready", readyAt=now, expiresAt=now + window_ms)
        ctx.set(f"tok:{token}", rec)
        ready[token] = now + window_ms
    if recs:
        delay = timedelta(milliseconds=window_ms)
        calls.send(ctx, calls.QUEUE_SWEEP, {"at": now + window_ms}, key=ctx.key(), delay=delay)
    meta["ready"] = len(ready)
    return [
        announce(ctx.key(), t, view_of(ctx.key(), t, r, meta, now), "queue_ready", "ready")
        for t, r in recs.items()
    ]


@queue_admission.handler()
@effects.bad_input_is_terminal
async def sweepReady(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Expire the ready tokens whose window has ended (one timer per admission batch)."""
    meta_f, ready_f = ctx.get("meta", type_hint=dict), ctx.get("ready", type_hint=dict)
    raw_meta, raw_ready = await meta_f, await ready_f
    if raw_meta is None:
        return {"expired": 0}
    meta, ready = dict(raw_meta), {str(k): int(v) for k, v in (raw_ready or {}).items()}
    now = await effects.now_ms(ctx, "sweep time")
    lapsed = sorted((t for t, at in ready.items() if at <= now), key=ready.__getitem__)
    if not lapsed:
        return {"expired": 0}
    holders = Holders(ctx)
    ended = [
        await end_token(ctx, meta, ready, holders, token, rec, now)
        for token, rec in zip(lapsed, await records_of(ctx, lapsed), strict=True)
    ]
    holders.save()
    ctx.set("ready", ready)
    ctx.set("meta", meta)
    await emit(ctx, "sweep events", ctx.key(), ended, meta=meta)
    metrics.count(metrics.QUEUE_EXPIRIES, ctx.key(), len(ended))
    return {"expired": len(ended)}
