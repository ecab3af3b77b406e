"""Creating a drop, reading it, and the single-entry `register` kept for ingress callers."""

from __future__ import annotations

import logging
from typing import Any

import restate
from restate.logging import RestateLoggingFilter

from apps.worker import calls, effects
from apps.worker.drops import randomness, state
from apps.worker.drops.object import CALLER_RETRIES, drop_object
from drop.contracts import DropConfig
from drop.domain import lottery
from drop.domain.drop_rules import Phase

# Quiet while Restate replays the journal: a created drop is logged once.
log = logging.getLogger("worker.drops")
log.addFilter(RestateLoggingFilter())


@drop_object.handler(invocation_retry_policy=CALLER_RETRIES)
@effects.bad_input_is_terminal
async def initialize(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Create the drop and commit to a secret and a beacon round; a repeat with the same
    config is a no-op."""
    config = state.parse_config(req, ctx.key())
    existing = await ctx.get("config", type_hint=dict)
    if existing is not None:
        if DropConfig.model_validate(existing) != config:
            raise effects.fail("drop_exists", f"drop {ctx.key()} exists with another config", 409)
        known = await state.core_of(ctx)
        return {"dropId": ctx.key(), "commitment": known["commitment"], "created": False}
    now = await effects.now_ms(ctx)
    secret = await effects.random_hex(ctx, "lottery secret", lottery.SECRET_BYTES)
    # Public randomness nobody has before registration closes; the draw mixes it in.
    committed_round = await randomness.commit_round(ctx, config.registration_end)
    core: state.Core = {
        "phase": Phase.REGISTRATION.value,
        "secret": secret,
        "commitment": lottery.commitment(secret),
        "inventory": config.inventory,
        "participantCount": 0,
        "totalTickets": 0,
        "totalEffectiveTickets": 0,
        "winnerCount": 0,
        "backupWinnerCount": 0,
        "createdAt": now,
        "nextBackup": 0,
        "beacon": committed_round,
    }
    ctx.set("config", config.wire())
    calls.send(
        ctx,
        calls.DROP_RUN_LOTTERY,
        {"trigger": "timer"},
        key=ctx.key(),
        delay=state.later(config.registration_end, now),
    )
    await state.commit(ctx, config, core)
    log.info(
        "drop %s created: %d items, registration ends at %d",
        ctx.key(),
        config.inventory,
        config.registration_end,
    )
    return {"dropId": ctx.key(), "commitment": core["commitment"], "created": True}


@drop_object.handler(kind="shared")
@effects.bad_input_is_terminal
async def register(ctx: restate.ObjectSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """One entry, for callers of the fixed name `Drop/<id>/register`: a batch of one."""
    answer = await calls.call(ctx, calls.DROP_REGISTER_BATCH, {"entries": [req]}, key=ctx.key())
    return effects.only(answer)


@drop_object.handler(kind="shared")
async def getState(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    config = await state.config_of(ctx)
    return state.snapshot(config, await state.core_of(ctx)).wire()


@drop_object.handler(kind="shared")
async def getLotteryProof(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    core = await state.core_of(ctx)
    proof = await ctx.get("proof", type_hint=dict)
    if proof is None:
        return {"available": False, "commitment": core["commitment"]}
    return {"available": True, "proof": proof, "commitment": core["commitment"]}


@drop_object.handler(kind="shared")
@effects.bad_input_is_terminal
async def getInclusionProof(
    ctx: restate.ObjectSharedContext, req: dict[str, Any]
) -> dict[str, Any]:
    raw = await ctx.get("proof", type_hint=dict)
    if raw is None:
        return {"available": False}
    proof = lottery.LotteryProof.from_wire(raw)
    found = lottery.inclusion_proof(proof.participants, str(req.get("userId", "")))
    if found is None:
        return {"available": False}
    return {"available": True, "proof": found.to_wire()}
