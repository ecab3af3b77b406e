"""UserRollover (key = userId): credits (docs/contract.md, Entries, rollover and loyalty)."""

from __future__ import annotations

import json
from typing import Any

import restate

from apps.worker import effects
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from drop import events
from drop.domain import rollover

user_rollover = restate.VirtualObject("UserRollover", invocation_retry_policy=PAUSE_WHEN_STUCK)


async def _balance(ctx: restate.ObjectSharedContext | restate.ObjectContext) -> int:
    return await ctx.get("balance", type_hint=int) or 0


@user_rollover.handler(kind="shared")
async def getBalance(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    return {"balance": await _balance(ctx)}


@user_rollover.handler()
@effects.bad_input_is_terminal
async def consumeRollover(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Use up to `wanted` credits for `dropId`; a repeat for that drop gets the first answer."""
    done_key = f"consumed:{req['dropId']}"
    done = await ctx.get(done_key, type_hint=dict)
    if done is not None:
        return dict(done)
    used, balance = rollover.consume(await _balance(ctx), int(req["wanted"]))
    answer = {"used": used, "balance": balance}
    ctx.set("balance", balance)
    ctx.set(done_key, answer)
    await _publish(ctx, balance)
    return answer


@user_rollover.handler()
@effects.bad_input_is_terminal
async def addRollover(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Credit `credits` earned in `dropId` (once per drop), capped at the rollover maximum."""
    done_key = f"credited:{req['dropId']}"
    done = await ctx.get(done_key, type_hint=dict)
    if done is not None:
        return dict(done)
    balance = rollover.add_credits(await _balance(ctx), int(req["credits"]))
    answer = {"balance": balance, "credited": int(req["credits"])}
    ctx.set("balance", balance)
    ctx.set(done_key, answer)
    await _publish(ctx, balance)
    return answer


async def _publish(ctx: restate.ObjectContext, balance: int) -> None:
    """Mirror the balance to the `rollover` bucket, so a registration can see without an
    invocation that a user has no credits to spend (most users, most of the time)."""

    async def put() -> None:
        kv = await current().bus.kv(events.ROLLOVER_BUCKET)
        await kv.put(ctx.key(), json.dumps({"balance": balance}).encode())

    await ctx.run_typed("publish balance", put)
