"""Participant (key = `dropId:userId`): one user's entry, status and token in one drop.

Registration is orchestrated here, per user, so users register concurrently; only the tiny
`Drop.addEntry` step is serialised on the drop.
"""

from __future__ import annotations

from typing import Any

import restate

from apps.worker import effects, user_loyalty, user_rollover
from drop import events
from drop.contracts import DropState, UserState
from drop.domain import geo, pricing, rollover
from drop.domain.drop_rules import Phase, check_entry_time
from drop.domain.errors import DomainError
from drop.domain.loyalty import effective_tickets

participant = restate.VirtualObject("Participant")

RECORD = "record"


def participant_key(drop_id: str, user_id: str) -> str:
    return f"{drop_id}:{user_id}"


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
        f"{state.drop_id}:user:{state.user_id}:{state.version}",
    )
    return state


def _geo(drop: DropState, location: dict[str, Any] | None) -> geo.GeoDecision:
    fence = geo.fence_from_wire(drop.geo_fence) if drop.geo_fence else None
    point = geo.latlng_from_wire(location) if location is not None else None
    return geo.decide(fence, drop.geo_fence_mode, drop.geo_fence_bonus_multiplier, point)


@participant.handler()
async def register(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Enter the drop: geo-fence, loyalty, the drop's entry, rollover, pricing."""
    from apps.worker import drop_object  # imports this module: resolved at call time

    drop_id, user_id = str(req["dropId"]), str(req["userId"])
    tickets = int(req["tickets"])
    if await _record(ctx) is not None:
        raise effects.fail("already_registered", f"{user_id} is already registered", 409)
    published = await effects.published_drop(ctx, drop_id)
    if published is None:  # not indexed yet: ask the drop itself
        published = await ctx.object_call(drop_object.getState, drop_id, None)
    drop = DropState.model_validate(published)
    arrived = await effects.now_ms(ctx, "arrival")
    try:
        check_entry_time(Phase(drop.phase), arrived, drop.registration_start, drop.registration_end)
        pricing.validate_ticket_count(tickets, drop.ticket_pricing.max_tickets)
        decision = _geo(drop, req.get("location"))
    except DomainError as exc:
        raise effects.terminal(exc) from exc
    loyal = user_loyalty.published_or_default(
        await effects.read_kv(ctx, events.LOYALTY_BUCKET, user_id)
    )
    effective = effective_tickets(tickets, float(loyal["multiplier"]), decision.bonus)
    entry = await ctx.object_call(
        drop_object.addEntry,
        drop_id,
        {"userId": user_id, "tickets": tickets, "effectiveTickets": effective},
    )
    await effects.publish_drop_state(ctx, DropState.model_validate(entry["snapshot"]))
    spent = await _spend_rollover(ctx, drop_id, user_id, tickets)
    breakdown = pricing.entry_breakdown(tickets, int(spent["used"]), drop.ticket_pricing.price_unit)
    state = UserState(
        drop_id=drop_id,
        user_id=user_id,
        status="registered",
        tickets=tickets,
        effective_tickets=effective,
        position=int(entry["position"]),
        rollover_used=breakdown.rollover_used,
        rollover_balance=int(spent["balance"]),
        paid_entries=breakdown.paid_entries,
        cost=breakdown.cost,
        loyalty_tier=str(loyal["tier"]),
        loyalty_multiplier=float(loyal["multiplier"]),
        geo_bonus=decision.bonus,
        in_geo_zone=decision.in_zone,
    )
    await _save(ctx, state, "registered")
    return {
        "success": True,
        "participantCount": entry["participantCount"],
        "totalTickets": entry["totalTickets"],
        "userTickets": tickets,
        "effectiveTickets": effective,
        "position": entry["position"],
        "rolloverUsed": breakdown.rollover_used,
        "paidEntries": breakdown.paid_entries,
        "cost": breakdown.cost,
        "loyaltyTier": state.loyalty_tier,
        "loyaltyMultiplier": state.loyalty_multiplier,
        "geoBonus": decision.bonus,
        "inGeoZone": decision.in_zone,
    }


async def _spend_rollover(
    ctx: restate.ObjectContext, drop_id: str, user_id: str, tickets: int
) -> dict[str, Any]:
    """Credits are spent through the user's `UserRollover` (exact under concurrency); its
    mirror lets a user with nothing to spend skip that call. A credit landing in the same
    instant is not lost: it waits for the user's next registration."""
    mirrored = await effects.read_kv(ctx, events.ROLLOVER_BUCKET, user_id)
    if mirrored is None or int(mirrored["balance"]) <= 0:
        return {"used": 0, "balance": 0}
    answer: dict[str, Any] = await ctx.object_call(
        user_rollover.consumeRollover, user_id, {"dropId": drop_id, "wanted": tickets}
    )
    return answer


async def _credit(ctx: restate.ObjectContext, state: UserState, credits: int) -> UserState:
    if credits <= 0:
        return state
    answer = await ctx.object_call(
        user_rollover.addRollover, state.user_id, {"dropId": state.drop_id, "credits": credits}
    )
    return state.model_copy(
        update={"rollover_balance": int(answer["balance"]), "rollover_earned": credits}
    )


@participant.handler()
async def applyOutcome(ctx: restate.ObjectContext, req: dict[str, Any]) -> None:
    """The drop tells this user what happened: winner, backup, lost, expired, purchased."""
    state = await _record(ctx)
    if state is None or await ctx.get("settled", type_hint=bool):
        return
    outcome = str(req["outcome"])
    if not await ctx.get("loyaltyRecorded", type_hint=bool):
        ctx.object_send(
            user_loyalty.recordParticipation,
            state.user_id,
            {"dropId": state.drop_id, "atMs": int(req.get("atMs", 0))},
        )
        ctx.set("loyaltyRecorded", True)
    update: dict[str, Any] = {"status": outcome}
    if outcome == "backup_winner":
        update["backup_position"] = int(req["backupPosition"])
    if outcome == "winner":
        update["deadline"] = int(req["deadline"])
        update["promoted"] = bool(req.get("promoted", False))
    if outcome in ("purchased", "expired"):
        update["token"] = None
    state = state.model_copy(update=update)
    if outcome == "expired":
        state = await _credit(ctx, state, rollover.credits_for_lapsed_winner(state.paid_entries))
        ctx.set("settled", True)
    if outcome == "purchased":
        ctx.set("settled", True)
    await _save(ctx, state, outcome)


@participant.handler()
async def tokenIssued(ctx: restate.ObjectContext, req: dict[str, Any]) -> None:
    state = await _record(ctx)
    if state is None or state.status != "winner":
        return
    update = {"token": str(req["token"]), "token_expires_at": int(req["expiresAt"])}
    await _save(ctx, state.model_copy(update=update), "token_issued")


@participant.handler()
async def settle(ctx: restate.ObjectContext) -> None:
    """The drop completed: credit what this user is owed (once) and publish the final status."""
    state = await _record(ctx)
    if state is None or await ctx.get("settled", type_hint=bool):
        return
    ctx.set("settled", True)
    if state.status == "winner":
        state = state.model_copy(update={"status": "expired", "token": None})
        state = await _credit(ctx, state, rollover.credits_for_lapsed_winner(state.paid_entries))
    else:
        state = state.model_copy(update={"status": "loser"})
        state = await _credit(ctx, state, rollover.credits_for_loser(state.paid_entries))
    await _save(ctx, state, "settled")


@participant.handler(kind="shared")
async def getStatus(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    state = await _record(ctx)
    if state is None:
        drop_id, _, user_id = ctx.key().partition(":")
        return UserState(drop_id=drop_id, user_id=user_id).wire()
    return state.wire()
