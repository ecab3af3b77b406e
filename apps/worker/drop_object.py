"""Drop (key = dropId): a drop's life from initialize to completed, timers included.

State is lazy (`state_preload=False`): each handler loads only the keys it touches, so a
registration costs the same with 10 or 20,000 participants. Keys:
  config            the DropConfig (wire form), immutable after initialize
  core              phase, counters, commitment, secret, lottery times, backup cursor
  entries:{n}       chunks of CHUNK entries [userId, tickets, effectiveTickets]
  proof             the published lottery proof (wire form)
  backups           ordered backup user ids
  winner:{userId}   {deadline, promoted, state: active|purchased|expired}
  tok:{userId}      the issued purchase token {token, expiresAt, used}
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

import restate

from apps.worker import effects, payment, settlement
from apps.worker.participant import applyOutcome, participant_key, tokenIssued
from apps.worker.participant import register as participant_register
from apps.worker.runtime import current
from drop.contracts import DropConfig, DropState, TicketPricing
from drop.domain import drop_rules, geo, lottery, pricing, tokens
from drop.domain.drop_rules import DropRules, Phase
from drop.domain.errors import DomainError

drop_object = restate.VirtualObject("Drop", state_preload=False)

CHUNK = 100
Core = dict[str, Any]


def _rules(config: DropConfig) -> DropRules:
    fence = geo.fence_from_wire(config.geo_fence) if config.geo_fence else None
    return DropRules(
        inventory=config.inventory,
        registration_start=config.registration_start,
        registration_end=config.registration_end,
        purchase_window_s=config.purchase_window,
        price_unit=config.ticket_price_unit,
        max_tickets=config.max_tickets_per_user,
        backup_multiplier=config.backup_multiplier,
        geo_fence=fence,
        geo_fence_mode=config.geo_fence_mode,
        geo_bonus=config.geo_fence_bonus_multiplier,
    )


async def _config(ctx: restate.ObjectContext | restate.ObjectSharedContext) -> DropConfig:
    raw = await ctx.get("config", type_hint=dict)
    if raw is None:
        raise effects.fail("drop_not_found", f"drop {ctx.key()} does not exist", 404)
    return DropConfig.model_validate(raw)


async def _core(ctx: restate.ObjectContext | restate.ObjectSharedContext) -> Core:
    return dict(await ctx.get("core", type_hint=dict) or {})


def _snapshot(config: DropConfig, core: Core) -> DropState:
    return DropState(
        drop_id=config.drop_id,
        phase=core["phase"],
        inventory=core["inventory"],
        initial_inventory=config.inventory,
        participant_count=core["participantCount"],
        total_tickets=core["totalTickets"],
        total_effective_tickets=core["totalEffectiveTickets"],
        winner_count=core["winnerCount"],
        backup_winner_count=core["backupWinnerCount"],
        registration_start=config.registration_start,
        registration_end=config.registration_end,
        purchase_end=core.get("purchaseEnd"),
        purchase_window=config.purchase_window,
        ticket_pricing=TicketPricing(
            price_unit=config.ticket_price_unit,
            max_tickets=config.max_tickets_per_user,
            costs=pricing.costs_table(config.max_tickets_per_user, config.ticket_price_unit),
        ),
        lottery_commitment=core["commitment"],
        geo_fence=config.geo_fence,
        geo_fence_mode=config.geo_fence_mode,
        geo_fence_bonus_multiplier=config.geo_fence_bonus_multiplier,
        product_name=config.product_name,
        product_description=config.product_description,
        image_url=config.image_url,
        version=core["version"],
    )


def _save(ctx: restate.ObjectContext, config: DropConfig, core: Core) -> DropState:
    """Save the core with a new version; the snapshot it returns is still to be published."""
    core["version"] = core.get("version", 0) + 1
    ctx.set("core", core)
    return _snapshot(config, core)


async def _commit(ctx: restate.ObjectContext, config: DropConfig, core: Core) -> DropState:
    """Save the core and publish the snapshot (stream + drops index)."""
    snap = _save(ctx, config, core)
    await effects.publish_drop_state(ctx, snap)
    return snap


def _later(at_ms: int, now_ms: int) -> timedelta:
    return timedelta(milliseconds=max(0, at_ms - now_ms))


@drop_object.handler()
async def initialize(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Create the drop and commit to a secret; a repeat with the same config is a no-op."""
    try:
        config = DropConfig.model_validate({**req, "dropId": ctx.key()})
        drop_rules.validate_rules(
            _rules(config), min_purchase_window_s=current().policy.min_purchase_window
        )
    except DomainError as exc:
        raise effects.terminal(exc) from exc
    existing = await ctx.get("config", type_hint=dict)
    if existing is not None:
        if DropConfig.model_validate(existing) != config:
            raise effects.fail("drop_exists", f"drop {ctx.key()} exists with another config", 409)
        known = await _core(ctx)
        return {"dropId": ctx.key(), "commitment": known["commitment"], "created": False}
    now = await effects.now_ms(ctx)
    secret = await effects.random_hex(ctx, "lottery secret", lottery.SECRET_BYTES)
    core: Core = {
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
    }
    ctx.set("config", config.wire())
    ctx.object_send(
        runLottery,
        ctx.key(),
        {"trigger": "timer"},
        send_delay=_later(config.registration_end, now),
    )
    await _commit(ctx, config, core)
    return {"dropId": ctx.key(), "commitment": core["commitment"], "created": True}


@drop_object.handler(kind="shared")
async def register(ctx: restate.ObjectSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """Enter the drop. Shared, so registrations never queue behind each other here: the
    per-user work runs in that user's Participant and only `addEntry` is serialised."""
    answer: dict[str, Any] = await ctx.object_call(
        participant_register,
        participant_key(ctx.key(), str(req["userId"])),
        {**req, "dropId": ctx.key()},
    )
    return answer


@drop_object.handler()
async def addEntry(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Append one entry: the only per-registration step serialised on the drop, so it reads
    no clock and publishes nothing. The caller checked the time when the request arrived
    and publishes the snapshot returned here; an entry queued behind the draw (which the
    timer enqueues at registrationEnd) finds the phase moved on and is refused."""
    config = await _config(ctx)
    core = await _core(ctx)
    user_id = str(req["userId"])
    if core["phase"] != Phase.REGISTRATION.value:
        raise effects.fail("registration_closed", "registration for this drop is closed", 409)
    position = core["participantCount"] + 1
    chunk_key = f"entries:{(position - 1) // CHUNK}"
    chunk = list(await ctx.get(chunk_key, type_hint=list) or [])
    chunk.append([user_id, int(req["tickets"]), int(req["effectiveTickets"])])
    ctx.set(chunk_key, chunk)
    core["participantCount"] = position
    core["totalTickets"] += int(req["tickets"])
    core["totalEffectiveTickets"] += int(req["effectiveTickets"])
    snap = _save(ctx, config, core)
    return {
        "position": position,
        "participantCount": position,
        "totalTickets": core["totalTickets"],
        "totalEffectiveTickets": core["totalEffectiveTickets"],
        "snapshot": snap.wire(),
    }


async def _entries(ctx: restate.ObjectContext, count: int) -> list[list[Any]]:
    out: list[list[Any]] = []
    for n in range((count + CHUNK - 1) // CHUNK):
        out.extend(await ctx.get(f"entries:{n}", type_hint=list) or [])
    return out


@drop_object.handler()
async def runLottery(
    ctx: restate.ObjectContext, req: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Draw winners and backups (once); a second call returns the first draw's summary."""
    config = await _config(ctx)
    core = await _core(ctx)
    if core["phase"] != Phase.REGISTRATION.value:
        return _draw_summary(core)
    now = await effects.now_ms(ctx, "draw time")
    entries = await _entries(ctx, core["participantCount"])
    proof = lottery.run_draw(
        config.drop_id,
        core["secret"],
        (lottery.Participant(e[0], e[2]) for e in entries),
        config.inventory,
        config.backup_multiplier,
        now,
    )
    ctx.set("proof", proof.to_wire())
    ctx.set("backups", list(proof.backups))
    window_ms = config.purchase_window * 1000
    # Promoted backups get a full window of their own; the drop ends after two windows.
    purchase_end = now + 2 * window_ms
    core.update(
        {
            "lotteryAt": now,
            "purchaseEnd": purchase_end,
            "winnerCount": len(proof.winners),
            "backupWinnerCount": len(proof.backups),
            "phase": (Phase.PURCHASE if proof.winners else Phase.COMPLETED).value,
        }
    )
    deadline = min(now + window_ms, purchase_end)
    for user_id in proof.winners:
        _make_winner(ctx, user_id, deadline, now, promoted=False)
    for i, user_id in enumerate(proof.backups, start=1):
        ctx.object_send(
            applyOutcome,
            participant_key(config.drop_id, user_id),
            {"outcome": "backup_winner", "backupPosition": i, "atMs": now},
        )
    drawn = set(proof.winners) | set(proof.backups)
    losers = [e[0] for e in entries if e[0] not in drawn]
    settlement.fan_out(ctx, settlement.notifyLost, config.drop_id, losers, now)
    if proof.winners:
        ctx.object_send(closePurchaseWindow, ctx.key(), None, send_delay=_later(purchase_end, now))
    else:
        settlement.fan_out(ctx, settlement.settleChunk, config.drop_id, losers, now)
    await _commit(ctx, config, core)
    return _draw_summary(core)


def _make_winner(
    ctx: restate.ObjectContext, user_id: str, deadline: int, now: int, *, promoted: bool
) -> None:
    ctx.set(f"winner:{user_id}", {"deadline": deadline, "promoted": promoted, "state": "active"})
    ctx.object_send(
        checkWinnerExpiry, ctx.key(), {"userId": user_id}, send_delay=_later(deadline, now)
    )
    ctx.object_send(
        applyOutcome,
        participant_key(ctx.key(), user_id),
        {"outcome": "winner", "deadline": deadline, "promoted": promoted, "atMs": now},
    )


def _draw_summary(core: Core) -> dict[str, Any]:
    return {
        "phase": core["phase"],
        "winnerCount": core["winnerCount"],
        "backupWinnerCount": core["backupWinnerCount"],
        "purchaseEnd": core.get("purchaseEnd"),
    }


async def _winner(ctx: restate.ObjectContext, user_id: str) -> dict[str, Any] | None:
    raw = await ctx.get(f"winner:{user_id}", type_hint=dict)
    return dict(raw) if raw else None


def _require_purchase_phase(core: Core) -> None:
    if core["phase"] == Phase.PURCHASE.value:
        return
    if core["phase"] == Phase.COMPLETED.value:
        if core["inventory"] <= 0:
            raise effects.fail("sold_out", "this drop is sold out", 410)
        raise effects.fail("window_closed", "the purchase window has closed", 410)
    raise effects.fail("wrong_phase", "the lottery has not been drawn yet", 409)


async def _active_winner(
    ctx: restate.ObjectContext, core: Core, user_id: str, now: int
) -> dict[str, Any]:
    _require_purchase_phase(core)
    w = await _winner(ctx, user_id)
    if w is None:
        raise effects.fail("not_winner", f"{user_id} is not a winner of this drop", 403)
    if w["state"] == "purchased":
        raise effects.fail("already_purchased", f"{user_id} has already purchased", 409)
    if w["state"] == "expired" or now >= w["deadline"]:
        raise effects.fail("deadline_passed", "your purchase window has expired", 410)
    if core["inventory"] <= 0:
        raise effects.fail("sold_out", "this drop is sold out", 410)
    return w


@drop_object.handler()
async def startPurchase(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Issue the winner's signed, single-use purchase token (the same one if asked again)."""
    user_id = str(req["userId"])
    core = await _core(ctx)
    now = await effects.now_ms(ctx)
    w = await _active_winner(ctx, core, user_id, now)
    issued = await ctx.get(f"tok:{user_id}", type_hint=dict)
    if issued is not None and not issued["used"]:
        return {"success": True, "purchaseToken": issued["token"], "expiresAt": issued["expiresAt"]}
    nonce = await effects.random_hex(ctx, "token nonce", 16)
    expires_at = int(w["deadline"])
    token = tokens.sign_purchase_token(
        current().secrets.purchase_token_secret, ctx.key(), user_id, expires_at, nonce
    )
    ctx.set(f"tok:{user_id}", {"token": token, "expiresAt": expires_at, "used": False})
    ctx.object_send(
        tokenIssued, participant_key(ctx.key(), user_id), {"token": token, "expiresAt": expires_at}
    )
    return {"success": True, "purchaseToken": token, "expiresAt": expires_at}


@drop_object.handler()
async def completePurchase(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Check the token, take payment (seam), decrement inventory, record the order."""
    user_id, token = str(req["userId"]), str(req["purchaseToken"])
    config = await _config(ctx)
    core = await _core(ctx)
    now = await effects.now_ms(ctx)
    w = await _active_winner(ctx, core, user_id, now)
    issued = await ctx.get(f"tok:{user_id}", type_hint=dict)
    if issued is None or not hmac.compare_digest(str(issued["token"]), token):
        raise effects.fail("invalid_token", "this purchase token was not issued to you", 403)
    if issued["used"]:
        raise effects.fail("token_used", "this purchase token has already been used", 409)
    check = tokens.verify_purchase_token(
        current().secrets.purchase_token_secret, token, ctx.key(), user_id, now
    )
    if not check.ok:
        status = 410 if check.reason == "expired" else 403
        raise effects.fail(f"token_{check.reason}", "the purchase token is not valid", status)
    order_id = f"{ctx.key()}-{config.inventory - core['inventory'] + 1}"
    order = payment.Order(order_id=order_id, drop_id=ctx.key(), user_id=user_id, amount_units=1)
    receipt = await ctx.run_typed("payment", payment.capture, restate.RunOptions(), order)
    core["inventory"] -= 1
    ctx.set(f"tok:{user_id}", {**issued, "used": True})
    ctx.set(f"winner:{user_id}", {**w, "state": "purchased", "orderId": order_id})
    ctx.set(f"order:{user_id}", {"orderId": order_id, "at": now, "payment": receipt})
    ctx.object_send(
        applyOutcome, participant_key(ctx.key(), user_id), {"outcome": "purchased", "atMs": now}
    )
    if core["inventory"] <= 0:
        await _complete(ctx, config, core, now)
    else:
        await _commit(ctx, config, core)
    return {
        "success": True,
        "inventory": core["inventory"],
        "phase": core["phase"],
        "orderId": order_id,
    }


async def _complete(ctx: restate.ObjectContext, config: DropConfig, core: Core, now: int) -> None:
    """End the drop: unbought winners lapse, everyone else is settled (rollover credits)."""
    core["phase"] = Phase.COMPLETED.value
    core["completedAt"] = now
    entries = await _entries(ctx, core["participantCount"])
    settlement.fan_out(ctx, settlement.settleChunk, config.drop_id, [e[0] for e in entries], now)
    await _commit(ctx, config, core)


@drop_object.handler()
async def closePurchaseWindow(ctx: restate.ObjectContext) -> dict[str, Any]:
    config = await _config(ctx)
    core = await _core(ctx)
    if core["phase"] == Phase.PURCHASE.value:
        await _complete(ctx, config, core, await effects.now_ms(ctx))
    return _draw_summary(core)


@drop_object.handler()
async def checkWinnerExpiry(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """At a winner's deadline: if they have not bought, they lapse and a backup steps up."""
    user_id = str(req["userId"])
    core = await _core(ctx)
    w = await _winner(ctx, user_id)
    if core["phase"] != Phase.PURCHASE.value or w is None or w["state"] != "active":
        return {"expired": False}
    now = await effects.now_ms(ctx)
    if now < w["deadline"]:
        ctx.object_send(checkWinnerExpiry, ctx.key(), req, send_delay=_later(w["deadline"], now))
        return {"expired": False}
    ctx.set(f"winner:{user_id}", {**w, "state": "expired"})
    ctx.object_send(
        applyOutcome, participant_key(ctx.key(), user_id), {"outcome": "expired", "atMs": now}
    )
    config = await _config(ctx)
    promoted = await _promote_next(ctx, config, core, now)
    await _commit(ctx, config, core)
    return {"expired": True, "promoted": promoted}


async def _promote_next(
    ctx: restate.ObjectContext, config: DropConfig, core: Core, now: int
) -> str | None:
    backups = list(await ctx.get("backups", type_hint=list) or [])
    purchase_end = int(core["purchaseEnd"])
    if core["nextBackup"] >= len(backups) or now >= purchase_end:
        return None
    user_id = str(backups[core["nextBackup"]])
    core["nextBackup"] += 1
    deadline = min(now + config.purchase_window * 1000, purchase_end)
    _make_winner(ctx, user_id, deadline, now, promoted=True)
    return user_id


@drop_object.handler()
async def promoteBackup(ctx: restate.ObjectContext) -> dict[str, Any]:
    """Admin: promote the next backup now (inventory still bounds the orders)."""
    core = await _core(ctx)
    _require_purchase_phase(core)
    now = await effects.now_ms(ctx)
    config = await _config(ctx)
    promoted = await _promote_next(ctx, config, core, now)
    if promoted is None:
        raise effects.fail("no_backup", "there is no backup left to promote", 409)
    await _commit(ctx, config, core)
    return {"promoted": promoted}


@drop_object.handler(kind="shared")
async def getState(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    config = await _config(ctx)
    return _snapshot(config, await _core(ctx)).wire()


@drop_object.handler(kind="shared")
async def getLotteryProof(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    core = await _core(ctx)
    if not core:
        raise effects.fail("drop_not_found", f"drop {ctx.key()} does not exist", 404)
    proof = await ctx.get("proof", type_hint=dict)
    if proof is None:
        return {"available": False, "commitment": core["commitment"]}
    return {"available": True, "proof": proof, "commitment": core["commitment"]}


@drop_object.handler(kind="shared")
async def getInclusionProof(
    ctx: restate.ObjectSharedContext, req: dict[str, Any]
) -> dict[str, Any]:
    raw = await ctx.get("proof", type_hint=dict)
    if raw is None:
        return {"available": False}
    proof = lottery.LotteryProof.from_wire(raw)
    found = lottery.inclusion_proof(proof.participants, str(req["userId"]))
    if found is None:
        return {"available": False}
    return {"available": True, "proof": found.to_wire()}
