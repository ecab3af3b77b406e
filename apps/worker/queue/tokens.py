"""A token's end of life: used by a registration, expired, and read-only looks."""

from __future__ import annotations

from bisect import insort
from datetime import timedelta

import restate

from apps.worker import calls, effects
from apps.worker.queue.line import Holders, end_token
from apps.worker.queue.object import queue_admission
from apps.worker.queue.state import (
    Ctx,
    Record,
    drop_from_batches,
    meta_of,
    record_of,
    records_of,
    save_meta,
    save_record,
)
from apps.worker.queue.views import Emit, emit, view_of
from apps.worker.typed import handler
from drop import durable
from drop.domain.queue_rules import token_is_well_formed
from drop.durable import (
    Batch,
    ExpireIn,
    Found,
    LiveQueueStats,
    NotFound,
    Ok,
    QueueStats,
    Refused,
    Spent,
    TokenQuery,
    TokenUse,
    TokenUses,
    TokenView,
    UnknownToken,
    refusal,
)


def _found(view: TokenView) -> Found:
    return Found(found=True, **view.model_dump())


@handler(queue_admission)
async def markTokenExpired(ctx: Ctx, req: ExpireIn) -> Found | NotFound:
    """Expire a token now (a ready window's timer, or an operator). Used and already expired
    tokens are left as they are; a waiting token leaves the line and frees its place."""
    token = req.token
    rec = await record_of(ctx, token)
    if rec is None:
        return NotFound(found=False)
    meta = await meta_of(ctx)
    if meta is None:
        raise LookupError(f"token {token} has a record but the queue has no meta")
    now = await effects.now_ms(ctx)
    timer = req.reason == "ready_window"
    if rec.status not in ("waiting", "ready") or (timer and rec.status != "ready"):
        return _found(view_of(ctx.key(), token, rec, meta, now))
    if timer and rec.expires_at is not None and now < rec.expires_at:
        # The timer fired early by this clock: look again when the window really ends.
        delay = timedelta(milliseconds=rec.expires_at - now)
        calls.send(ctx, durable.QUEUE_EXPIRE, req, key=ctx.key(), delay=delay)
        return _found(view_of(ctx.key(), token, rec, meta, now))
    if rec.status == "waiting":
        insort(meta.holes, rec.seq)
    holders = Holders(ctx)
    ended = await end_token(ctx, meta, holders, token, rec, now)
    holders.save()
    save_meta(ctx, meta)
    await emit(ctx, "expiry events", ctx.key(), [ended], meta=meta)
    return _found(ended.view)


@handler(queue_admission)
async def useTokens(ctx: Ctx, req: TokenUses) -> Batch[Found] | Batch[Spent]:
    """Spend ready tokens on registrations (a registration batch's, in one call): each is
    bound to its user, so a registration that failed later can be retried by that user,
    and refused for anyone else. A spent token gives its network's waiting place back: it
    stays in the network's list, which the next join at that network's limit clears of
    spent tokens (`join._free_spent`), so a spend neither reads nor writes the list.
    With `brief`, a spent token's answer is `{found: true}` (refusals are the same)."""
    spent = await _use(ctx, req.uses)
    if not req.brief:
        return spent
    yes = Spent(found=True)
    return Batch[Spent](
        results=[r if isinstance(r, Refused) else Ok[Spent](ok=yes) for r in spent.results]
    )


async def _use(ctx: Ctx, uses: list[TokenUse]) -> Batch[Found]:
    meta_f = meta_of(ctx)
    tokens = [u.token for u in uses]
    # One record per token, however often the batch names it: the first use spends it and
    # a second one sees it used (read twice, each copy would look ready).
    distinct = list(dict.fromkeys(tokens))
    by_token = dict(zip(distinct, await records_of(ctx, distinct), strict=True))
    recs = [by_token[t] for t in tokens]
    meta = await meta_f
    now = await effects.now_ms(ctx)
    results: list[Ok[Found] | Refused] = []
    spent: list[Emit] = []
    spent_recs: dict[str, Record] = {}
    for use, token, rec in zip(uses, tokens, recs, strict=True):
        user_id = use.user_id
        problem = _unusable(rec, user_id, now)
        if problem is not None:
            results.append(problem)
            continue
        assert rec is not None and meta is not None
        if rec.status == "ready":
            rec.status, rec.used_at, rec.used_by = "used", now, user_id
            meta.ready, meta.used = meta.ready - 1, meta.used + 1
            save_record(ctx, token, rec)
            spent_recs[token] = rec
            spent.append(Emit(token, view_of(ctx.key(), token, rec, meta, now)))
        results.append(Ok[Found](ok=_found(view_of(ctx.key(), token, rec, meta, now))))
    if spent and meta is not None:
        await drop_from_batches(ctx, spent_recs)
        save_meta(ctx, meta)
        await emit(ctx, "used views", ctx.key(), spent, meta=meta)
    return Batch[Found](results=results)


@handler(queue_admission)
async def markTokenUsed(ctx: Ctx, req: TokenUse) -> Found:
    """One token (a batch of one), for its fixed name (docs/contract.md, Services and ports)."""
    answer = effects.only(await _use(ctx, [req]))
    return answer.model_copy(update={"used_by": req.user_id})


def _unusable(rec: Record | None, user_id: str, now: int) -> Refused | None:
    if not user_id:
        return refusal(400, "invalid_request", "userId is required")
    if rec is None:
        return refusal(403, "queue_token_invalid", "this queue token does not exist")
    status = rec.status
    if status == "used" and rec.used_by != user_id:
        return refusal(409, "queue_token_used", "this queue token has already been used")
    expires_at = rec.expires_at if rec.expires_at is not None else now
    if status == "expired" or (status == "ready" and now >= expires_at):
        return refusal(410, "queue_token_expired", "this queue token has expired")
    if status == "waiting":
        return refusal(403, "queue_token_not_ready", "this queue token is still waiting")
    return None


@handler(queue_admission, kind="shared")
async def checkToken(ctx: restate.ObjectSharedContext, req: TokenQuery) -> Found | UnknownToken:
    """A token's exact status and place in line (read-only; never queues behind a tick)."""
    token = req.token
    rec_f = ctx.get(f"tok:{token}", type_hint=Record) if token_is_well_formed(token) else None
    meta_f = meta_of(ctx)
    rec, meta = (await rec_f if rec_f is not None else None), await meta_f
    if not rec or not meta:
        return UnknownToken(found=False, token=token, drop_id=ctx.key())
    now = await effects.now_ms(ctx)
    return _found(view_of(ctx.key(), token, rec, meta, now))


@handler(queue_admission, kind="shared")
async def getQueueStats(ctx: restate.ObjectSharedContext) -> LiveQueueStats | QueueStats:
    """Counters of the drop's waiting room."""
    meta = await meta_of(ctx)
    if meta is None:
        return QueueStats(
            waiting_count=0,
            ready_count=0,
            total_issued=0,
            total_admitted=0,
            total_used=0,
            total_expired=0,
            admission_loop_active=False,
        )
    return LiveQueueStats(
        waiting_count=meta.waiting,
        ready_count=meta.ready,
        total_issued=meta.tail,
        total_admitted=meta.admitted,
        total_used=meta.used,
        total_expired=meta.expired,
        admission_loop_active=meta.loop.active,
        admission_rate=meta.cfg.rate,
        max_concurrent=meta.cfg.max_concurrent,
    )
