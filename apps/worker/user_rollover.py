"""UserRollover (key = userId): credits (docs/contract.md, Entries, rollover and loyalty)."""

from __future__ import annotations

import json

import restate

from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import events
from drop.domain import rollover
from drop.durable import Balance, Consumed, ConsumeIn, Credited, CreditIn

user_rollover = restate.VirtualObject("UserRollover", invocation_retry_policy=PAUSE_WHEN_STUCK)


async def _balance(ctx: restate.ObjectSharedContext | restate.ObjectContext) -> int:
    return await ctx.get("balance", type_hint=int) or 0


@handler(user_rollover, kind="shared")
async def getBalance(ctx: restate.ObjectSharedContext) -> Balance:
    return Balance(balance=await _balance(ctx))


@handler(user_rollover)
async def consumeRollover(ctx: restate.ObjectContext, req: ConsumeIn) -> Consumed:
    """Use up to `wanted` credits for `dropId`; a repeat for that drop gets the first answer."""
    done_key = f"consumed:{req.drop_id}"
    done = await ctx.get(done_key, type_hint=dict)
    if done is not None:
        return Consumed.model_validate(done)
    used, balance = rollover.consume(await _balance(ctx), req.wanted)
    answer = Consumed(used=used, balance=balance)
    ctx.set("balance", balance)
    ctx.set(done_key, answer.model_dump(by_alias=True))
    await _publish(ctx, balance)
    return answer


@handler(user_rollover)
async def addRollover(ctx: restate.ObjectContext, req: CreditIn) -> Credited:
    """Credit `credits` earned in `dropId` (once per drop), capped at the rollover maximum."""
    done_key = f"credited:{req.drop_id}"
    done = await ctx.get(done_key, type_hint=dict)
    if done is not None:
        return Credited.model_validate(done)
    balance = rollover.add_credits(await _balance(ctx), req.credits)
    answer = Credited(balance=balance, credited=req.credits)
    ctx.set("balance", balance)
    ctx.set(done_key, answer.model_dump(by_alias=True))
    await _publish(ctx, balance)
    return answer


async def _publish(ctx: restate.ObjectContext, balance: int) -> None:
    """Mirror the balance to the `rollover` bucket, so a registration can see without an
    invocation that a user has no credits to spend (most users, most of the time)."""

    async def put() -> None:
        kv = await current().bus.kv(events.ROLLOVER_BUCKET)
        await kv.put(ctx.key(), json.dumps({"balance": balance}).encode())

    await ctx.run_typed("publish balance", put)
