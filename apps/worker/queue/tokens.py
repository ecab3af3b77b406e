"""A token's end of life: used by a registration, expired, and read-only looks."""

from __future__ import annotations

from bisect import insort
from datetime import timedelta
from typing import Any

import restate

from apps.worker import calls, effects
from apps.worker.queue.line import Holders, end_token, records_of
from apps.worker.queue.object import (
    Ctx,
    Record,
    queue_admission,
    record_of,
)
from apps.worker.queue.views import Emit, emit, view_of
from drop.domain.queue_rules import (
    token_is_well_formed,
)


@queue_admission.handler()
@effects.bad_input_is_terminal
async def markTokenExpired(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Expire a token now (a ready window's timer, or an operator). Used and already expired
    tokens are left as they are; a waiting token leaves the line and frees its place."""
    token = str(req.get("token") or "")
    rec = await record_of(ctx, token)
    if rec is None:
        return {"found": False}
    meta = dict(await ctx.get("meta", type_hint=dict) or {})
    now = await effects.now_ms(ctx)
    timer = req.get("reason") == "ready_window"
    if rec["status"] not in ("waiting", "ready") or (timer and rec["status"] != "ready"):
        return {"found": True, **view_of(ctx.key(), token, rec, meta, now)}
    if timer and now < rec["expiresAt"]:
        # The timer fired early by this clock: look again when the window really ends.
        delay = timedelta(milliseconds=rec["expiresAt"] - now)
        calls.send(ctx, calls.QUEUE_EXPIRE, req, key=ctx.key(), delay=delay)
        return {"found": True, **view_of(ctx.key(), token, rec, meta, now)}
    if rec["status"] == "waiting":
        insort(meta["holes"], rec["seq"])
    holders = Holders(ctx)
    ended = await end_token(ctx, meta, holders, token, rec, now)
    holders.save()
    ctx.set("meta", meta)
    await emit(ctx, "expiry events", ctx.key(), [ended], meta=meta)
    return {"found": True, **ended.view}


@queue_admission.handler()
@effects.bad_input_is_terminal
async def useTokens(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Spend ready tokens on registrations (a registration batch's, in one call): each is
    bound to its user, so a registration that failed later can be retried by that user,
    and refused for anyone else. A spent token gives its network's waiting place back."""
    uses = [u for u in req.get("uses") or [] if isinstance(u, dict)]
    meta_f = ctx.get("meta", type_hint=dict)
    tokens = [str(u.get("token") or "") for u in uses]
    recs = [rec or None for rec in await records_of(ctx, tokens)]
    meta = dict(await meta_f or {})
    now = await effects.now_ms(ctx)
    holders = Holders(ctx)
    await holders.load([f"ip:{r['ip']}" for r in recs if r is not None and r["status"] == "ready"])
    results: list[dict[str, Any]] = []
    spent: list[Emit] = []
    for use, token, rec in zip(uses, tokens, recs, strict=True):
        user_id = str(use.get("userId") or "")
        problem = _unusable(rec, user_id, now)
        if problem is not None:
            results.append(problem)
            continue
        assert rec is not None
        if rec["status"] == "ready":
            rec.update(status="used", usedAt=now, usedBy=user_id)
            meta["ready"], meta["used"] = meta["ready"] - 1, meta["used"] + 1
            ctx.set(f"tok:{token}", rec)
            await holders.release(f"ip:{rec['ip']}", token)
            spent.append(Emit(token, view_of(ctx.key(), token, rec, meta, now)))
        results.append({"ok": {"found": True, **view_of(ctx.key(), token, rec, meta, now)}})
    if spent:
        holders.save()
        ctx.set("meta", meta)
        await emit(ctx, "used views", ctx.key(), spent, meta=meta)
    return {"results": results}


@queue_admission.handler()
@effects.bad_input_is_terminal
async def markTokenUsed(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """One token (a batch of one), for its fixed name (docs/contract.md, Services and ports)."""
    answer = effects.only(await useTokens(ctx, {"uses": [req]}))
    return {**answer, "usedBy": str(req.get("userId") or "")}


def _unusable(rec: Record | None, user_id: str, now: int) -> dict[str, Any] | None:
    if not user_id:
        return effects.refusal(400, "invalid_request", "userId is required")
    if rec is None:
        return effects.refusal(403, "queue_token_invalid", "this queue token does not exist")
    status = rec["status"]
    if status == "used" and rec.get("usedBy") != user_id:
        return effects.refusal(409, "queue_token_used", "this queue token has already been used")
    if status == "expired" or (status == "ready" and now >= rec["expiresAt"]):
        return effects.refusal(410, "queue_token_expired", "this queue token has expired")
    if status == "waiting":
        return effects.refusal(403, "queue_token_not_ready", "this queue token is still waiting")
    return None


@queue_admission.handler(kind="shared")
@effects.bad_input_is_terminal
async def checkToken(ctx: restate.ObjectSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """A token's exact status and place in line (read-only; never queues behind a tick)."""
    token = str(req.get("token") or "")
    rec_f = ctx.get(f"tok:{token}", type_hint=dict) if token_is_well_formed(token) else None
    meta_f = ctx.get("meta", type_hint=dict)
    rec, meta = (await rec_f if rec_f is not None else None), await meta_f
    if not rec or not meta:
        return {"found": False, "token": token, "dropId": ctx.key()}
    now = await effects.now_ms(ctx)
    return {"found": True, **view_of(ctx.key(), token, rec, meta, now), "usedBy": rec.get("usedBy")}


@queue_admission.handler(kind="shared")
async def getQueueStats(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    """Counters of the drop's waiting room."""
    meta = await ctx.get("meta", type_hint=dict)
    if not meta:
        return {
            "waitingCount": 0,
            "readyCount": 0,
            "totalIssued": 0,
            "totalAdmitted": 0,
            "totalUsed": 0,
            "totalExpired": 0,
            "admissionLoopActive": False,
        }
    return {
        "waitingCount": meta["waiting"],
        "readyCount": meta["ready"],
        "totalIssued": meta["tail"],
        "totalAdmitted": meta["admitted"],
        "totalUsed": meta["used"],
        "totalExpired": meta["expired"],
        "admissionLoopActive": meta["loop"]["active"],
        "admissionRate": meta["cfg"]["rate"],
        "maxConcurrent": meta["cfg"]["maxConcurrent"],
    }
