"""Creating a drop, reading it, and the single-entry `register` kept for ingress callers."""

from __future__ import annotations

import logging

import restate
from restate.logging import RestateLoggingFilter

from apps.worker import calls, effects
from apps.worker.drops import randomness, state
from apps.worker.drops.object import CALLER_RETRIES, drop_object
from apps.worker.typed import handler
from drop import durable
from drop.contracts import DropConfig, DropState, EntryIn
from drop.domain import lottery
from drop.domain.drop_rules import Phase
from drop.durable import (
    Created,
    ForUser,
    InclusionOut,
    LotteryProofOut,
    NewDrop,
    NoInclusion,
    NoProof,
    Registered,
    SizeFunnel,
)

BAD_CONFIG = ("invalid_config", "the drop configuration is invalid")

# Quiet while Restate replays the journal: a created drop is logged once.
log = logging.getLogger("worker.drops")
log.addFilter(RestateLoggingFilter())


@handler(drop_object, refused=BAD_CONFIG, invocation_retry_policy=CALLER_RETRIES)
async def initialize(ctx: restate.ObjectContext, req: NewDrop) -> Created:
    """Create the drop and commit to a secret and a beacon round; a repeat with the same
    config is a no-op."""
    config = state.parse_config(req, ctx.key())
    existing = await ctx.get("config", type_hint=dict)
    if existing is not None:
        if DropConfig.model_validate(existing) != config:
            raise effects.fail("drop_exists", f"drop {ctx.key()} exists with another config", 409)
        known = await state.core_of(ctx)
        return Created(drop_id=ctx.key(), commitment=known["commitment"], created=False)
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
    sizes = state.initial_sizes(config)
    if sizes is not None:
        core["variantInventory"] = sizes
        core["promoted"] = []
    ctx.set("config", config.wire())
    calls.send(
        ctx,
        durable.DROP_RUN_LOTTERY,
        durable.DrawIn(trigger="timer"),
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
    return Created(drop_id=ctx.key(), commitment=core["commitment"], created=True)


@handler(drop_object, kind="shared")
async def register(ctx: restate.ObjectSharedContext, req: EntryIn) -> Registered:
    """One entry, for callers of the fixed name `Drop/<id>/register`: a batch of one."""
    batch = durable.EntryBatch(entries=[req.wire()])
    return effects.only(await calls.call(ctx, durable.DROP_REGISTER_BATCH, batch, key=ctx.key()))


@handler(drop_object, kind="shared")
async def getState(ctx: restate.ObjectSharedContext) -> DropState:
    config = await state.config_of(ctx)
    return state.snapshot(config, await state.core_of(ctx))


@handler(drop_object, kind="shared")
async def getSizeFunnel(ctx: restate.ObjectSharedContext) -> SizeFunnel:
    """Each size's funnel for the console (admin); 404 `no_variants` on a drop without."""
    config = await state.config_of(ctx)
    core = await state.core_of(ctx)
    if config.variants is None:
        raise effects.fail("no_variants", f"drop {ctx.key()} has no sizes", 404)
    return SizeFunnel(
        drop_id=ctx.key(),
        phase=core["phase"],
        participant_count=core["participantCount"],
        variants=state.size_funnel(config, core),
    )


@handler(drop_object, kind="shared")
async def getLotteryProof(ctx: restate.ObjectSharedContext) -> LotteryProofOut | NoProof:
    core = await state.core_of(ctx)
    proof = await ctx.get("proof", type_hint=dict)
    if proof is None:
        return NoProof(available=False, commitment=core["commitment"])
    return LotteryProofOut(available=True, proof=proof, commitment=core["commitment"])


@handler(drop_object, kind="shared")
async def getInclusionProof(
    ctx: restate.ObjectSharedContext, req: ForUser
) -> InclusionOut | NoInclusion:
    raw = await ctx.get("proof", type_hint=dict)
    if raw is None:
        return NoInclusion(available=False)
    proof = lottery.LotteryProof.from_wire(raw)
    found = lottery.inclusion_proof(proof.participants, req.user_id or "")
    if found is None:
        return NoInclusion(available=False)
    return InclusionOut(available=True, proof=found.to_wire())
