"""Participant (key = `dropId:userId`): a drawn user's status and token in one drop.

Registration is a batch step of the Drop, which publishes each entrant's status; a
Participant comes to life when the draw names its user a winner or a backup (the outcome
carries the registration it starts from), and follows them through purchase, expiry and
settlement. The crowd that was not drawn is told and settled by `Settlement` in chunks.
"""

from __future__ import annotations

from typing import Any

import restate

from apps.worker import calls, effects
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.typed import handler
from drop import durable, events
from drop.contracts import UserState
from drop.domain import rollover
from drop.durable import OutcomeIn, SettleIn, TokenIssuedIn

participant = restate.VirtualObject("Participant", invocation_retry_policy=PAUSE_WHEN_STUCK)

RECORD = "record"


async def _record(ctx: restate.ObjectContext | restate.ObjectSharedContext) -> UserState | None:
    raw = await ctx.get(RECORD, type_hint=dict)
    return UserState.model_validate(raw) if raw else None


async def _save(ctx: restate.ObjectContext, state: UserState, reason: str) -> UserState:
    """Store the new status and publish it on `drop.{dropId}.user.{userId}`."""
    state = state.model_copy(update={"version": state.version + 1})
    ctx.set(RECORD, state.wire())
    await effects.publish(
        ctx,
        events.drop_user_subject(state.drop_id, state.user_id),
        reason,
        state.wire(),
        effects.user_msg_id(state),
    )
    return state


async def _credit(ctx: restate.ObjectContext, state: UserState, credits: int) -> UserState:
    if credits <= 0:
        return state
    answer = await calls.call(
        ctx,
        durable.ROLLOVER_ADD,
        durable.CreditIn(drop_id=state.drop_id, credits=credits),
        key=state.user_id,
    )
    return state.model_copy(update={"rollover_balance": answer.balance, "rollover_earned": credits})


@handler(participant)
async def applyOutcome(ctx: restate.ObjectContext, req: OutcomeIn) -> None:
    """The drop tells this user what happened: winner, backup, lost, expired, purchased."""
    state = await _record(ctx)
    if state is None:
        state = req.registered
    if state is None or await ctx.get("settled", type_hint=bool):
        return
    outcome = req.outcome
    recorded = await ctx.get("loyaltyRecorded", type_hint=bool)
    update: dict[str, Any] = {"status": outcome}
    if outcome == "backup_winner":
        update["backup_position"] = req.backup_position
    if outcome == "winner":
        update["deadline"] = req.deadline
        update["promoted"] = req.promoted
    if outcome in ("purchased", "expired"):
        update["token"] = None
    if req.variant is not None:
        update["variant"] = req.variant
    state = state.model_copy(update=update)
    if outcome == "expired":
        state = await _credit(ctx, state, rollover.credits_for_lapsed_winner(state.paid_entries))
    # The commit point: every read and call is done; what follows only writes and sends.
    if not recorded:
        calls.send(
            ctx,
            durable.LOYALTY_RECORD,
            durable.ParticipationIn(drop_id=state.drop_id, at_ms=req.at_ms),
            key=state.user_id,
        )
        ctx.set("loyaltyRecorded", True)
    if outcome in ("purchased", "expired"):
        ctx.set("settled", True)
    await _save(ctx, state, outcome)


@handler(participant)
async def tokenIssued(ctx: restate.ObjectContext, req: TokenIssuedIn) -> None:
    state = await _record(ctx)
    if state is None or state.status != "winner":
        return
    update = {"token": req.token, "token_expires_at": req.expires_at}
    await _save(ctx, state.model_copy(update=update), "token_issued")


@handler(participant)
async def settle(ctx: restate.ObjectContext, req: SettleIn) -> None:
    """The drop completed: credit what this user is owed (once) and publish the final status.
    `bought`: the drop saw this user pay, whether or not their `purchased` came first."""
    state = await _record(ctx)
    if state is None or await ctx.get("settled", type_hint=bool):
        return
    reason = "settled"
    if req.bought:
        state = state.model_copy(update={"status": "purchased", "token": None})
        reason = "purchased"
    elif state.status == "winner":
        state = state.model_copy(update={"status": "expired", "token": None})
        state = await _credit(ctx, state, rollover.credits_for_lapsed_winner(state.paid_entries))
    else:
        state = state.model_copy(update={"status": "loser"})
        state = await _credit(ctx, state, rollover.credits_for_loser(state.paid_entries))
    ctx.set("settled", True)
    await _save(ctx, state, reason)


@handler(participant, kind="shared")
async def getStatus(ctx: restate.ObjectSharedContext) -> UserState:
    state = await _record(ctx)
    if state is None:
        drop_id, _, user_id = ctx.key().partition(":")
        return UserState(drop_id=drop_id, user_id=user_id)
    return state
