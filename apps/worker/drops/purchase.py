"""Purchases: a winner's token, the order, lapsed windows and backup promotion."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import restate

from apps.worker import calls, effects, metrics, payment
from apps.worker.drops import state, watch
from apps.worker.drops.draw import RANKINGS, complete, make_winner, read_closing
from apps.worker.drops.object import CALLER_RETRIES, drop_object
from apps.worker.drops.watch import LEDGER
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import durable
from drop.contracts import DropConfig
from drop.domain import lottery, sales, tokens
from drop.domain.drop_rules import Phase
from drop.durable import ExpiryOut, ForUser, PromotedOut, Purchased, PurchaseTry, TokenOut


async def _winner(ctx: restate.ObjectContext, user_id: str) -> dict[str, Any] | None:
    raw = await ctx.get(f"winner:{user_id}", type_hint=dict)
    return dict(raw) if raw else None


def _require_purchase_phase(core: state.Core) -> None:
    if core["phase"] == Phase.PURCHASE.value:
        return
    if core["phase"] == Phase.COMPLETED.value:
        if core["inventory"] <= 0:
            raise effects.fail("sold_out", "this drop is sold out", 410)
        raise effects.fail("window_closed", "the purchase window has closed", 410)
    raise effects.fail("wrong_phase", "the lottery has not been drawn yet", 409)


async def _active_winner(
    ctx: restate.ObjectContext, core: state.Core, user_id: str, now: int
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
    variant = w.get("variant")
    if variant is not None and int(core["variantInventory"].get(variant, 0)) <= 0:
        raise effects.fail("sold_out", f"size {variant} of this drop is sold out", 410)
    return w


def _user_of(req: ForUser | PurchaseTry) -> str:
    if not req.user_id:
        raise effects.fail("invalid_request", "userId is required", 400)
    return req.user_id


@handler(drop_object, invocation_retry_policy=CALLER_RETRIES)
async def startPurchase(ctx: restate.ObjectContext, req: ForUser) -> TokenOut:
    """Issue the winner's signed, single-use purchase token (the same one if asked again)."""
    user_id = _user_of(req)
    core = await state.core_of(ctx)
    now = await effects.now_ms(ctx)
    watch.refuse_if_halted(core)
    w = await _active_winner(ctx, core, user_id, now)
    issued = await ctx.get(f"tok:{user_id}", type_hint=dict)
    if issued is not None and not issued["used"]:
        return TokenOut(
            success=True, purchase_token=issued["token"], expires_at=issued["expiresAt"]
        )
    expires_at = int(w["deadline"])

    def sign() -> str:
        """The nonce and the signing secret (process state) are journaled with the token."""
        nonce = secrets.token_hex(16)
        return tokens.sign_purchase_token(
            current().secrets.purchase_token_secret, ctx.key(), user_id, expires_at, nonce
        )

    token = await ctx.run_typed("purchase token", sign)
    ctx.set(f"tok:{user_id}", {"token": token, "expiresAt": expires_at, "used": False})
    calls.send(
        ctx,
        durable.PARTICIPANT_TOKEN,
        durable.TokenIssuedIn(token=token, expires_at=expires_at),
        key=f"{ctx.key()}:{user_id}",
    )
    return TokenOut(success=True, purchase_token=token, expires_at=expires_at)


async def _token_problem(ctx: restate.ObjectContext, user_id: str, token: str, now: int) -> str:
    """Why the token does not verify ("" when it does), journaled: the secret is process
    state, and the path the handler takes must not change on a replay."""

    def verify() -> str:
        check = tokens.verify_purchase_token(
            current().secrets.purchase_token_secret, token, ctx.key(), user_id, now
        )
        return "" if check.ok else str(check.reason)

    return await ctx.run_typed("token check", verify)


@handler(drop_object, invocation_retry_policy=CALLER_RETRIES)
async def completePurchase(ctx: restate.ObjectContext, req: PurchaseTry) -> Purchased:
    """Check the token, take payment (seam), decrement inventory, record the order.

    One commit point: every read, the decision and the payment come first; the order, the
    ledger, the inventory, the winner's record and the messages are then written in one
    uninterrupted block, so an interruption leaves either nothing or all of it."""
    user_id, token = _user_of(req), req.purchase_token or ""
    config = await state.config_of(ctx)
    core = await state.core_of(ctx)
    ledger = await watch.ledger_of(ctx, config, core)
    now = await effects.now_ms(ctx)
    watch.refuse_if_halted(core)
    w = await _active_winner(ctx, core, user_id, now)
    issued = await ctx.get(f"tok:{user_id}", type_hint=dict)
    if issued is None or not hmac.compare_digest(str(issued["token"]), token):
        raise effects.fail("invalid_token", "this purchase token was not issued to you", 403)
    if issued["used"]:
        raise effects.fail("token_used", "this purchase token has already been used", 409)
    problem = await _token_problem(ctx, user_id, token, now)
    if problem:
        status = 410 if problem == "expired" else 403
        raise effects.fail(f"token_{problem}", "the purchase token is not valid", status)
    order_id = sales.next_order_id(ctx.key(), ledger)
    after, order = _sold(core, order_id, user_id, w.get("variant"))
    sold = [*ledger, order]
    closing = await read_closing(ctx, core) if after["inventory"] <= 0 else None
    left, sizes = after["inventory"], after.get("variantInventory")
    if watch.check(ctx, config, core, sold, "purchase", now, inventory=left, sizes=sizes):
        await state.commit(ctx, config, core)
        watch.refuse_if_halted(core)
    charge = payment.Order(order_id=order_id, drop_id=ctx.key(), user_id=user_id, amount_units=1)
    receipt = await ctx.run_typed("payment", payment.capture, restate.RunOptions(), charge)
    # The commit point: from here on only writes and sends, then the snapshot's publish.
    core = after
    ctx.set(LEDGER, sold)
    ctx.set(f"order:{user_id}", {"orderId": order_id, "at": now, "payment": receipt, **_size(w)})
    ctx.set(f"tok:{user_id}", {**issued, "used": True})
    ctx.set(f"winner:{user_id}", {**w, "state": "purchased", "orderId": order_id})
    calls.send(
        ctx,
        durable.PARTICIPANT_OUTCOME,
        durable.OutcomeIn(outcome="purchased", at_ms=now),
        key=f"{ctx.key()}:{user_id}",
    )
    if closing is not None:
        complete(ctx, config, core, closing, sold, now)
    await state.commit(ctx, config, core)
    metrics.count(metrics.PURCHASES, ctx.key())
    return Purchased(
        success=True, inventory=core["inventory"], phase=core["phase"], order_id=order_id
    )


def _size(w: dict[str, Any]) -> dict[str, Any]:
    return {"variant": w["variant"]} if w.get("variant") is not None else {}


def _sold(
    core: state.Core, order_id: str, user_id: str, variant: str | None
) -> tuple[state.Core, list[str]]:
    """The core after one more sale and the ledger row of the order (with its size, on a
    drop with sizes)."""
    after = {**core, "inventory": core["inventory"] - 1}
    if variant is None:
        return after, [order_id, user_id]
    sizes = dict(core["variantInventory"])
    sizes[variant] = int(sizes[variant]) - 1
    return {**after, "variantInventory": sizes}, [order_id, user_id, variant]


@handler(drop_object)
async def checkWinnerExpiry(ctx: restate.ObjectContext, req: ForUser) -> ExpiryOut:
    """At a winner's deadline: if they have not bought, they lapse and a backup steps up."""
    user_id = _user_of(req)
    core = await state.core_of(ctx)
    w = await _winner(ctx, user_id)
    if core["phase"] != Phase.PURCHASE.value or w is None or w["state"] != "active":
        return ExpiryOut(expired=False)
    now = await effects.now_ms(ctx)
    if now < w["deadline"]:
        again = state.later(w["deadline"], now)
        calls.send(ctx, durable.DROP_CHECK_EXPIRY, req, key=ctx.key(), delay=again)
        return ExpiryOut(expired=False)
    config = await state.config_of(ctx)
    backups = await _backups(ctx, config)
    # The commit point: the lapse and the promotion are written together.
    ctx.set(f"winner:{user_id}", {**w, "state": "expired"})
    calls.send(
        ctx,
        durable.PARTICIPANT_OUTCOME,
        durable.OutcomeIn(outcome="expired", at_ms=now),
        key=f"{ctx.key()}:{user_id}",
    )
    promoted = _promote_next(ctx, config, core, backups, now, w.get("variant"))
    await state.commit(ctx, config, core)
    return ExpiryOut(expired=True, promoted=promoted)


@dataclass(frozen=True)
class Backups:
    """The drawn backups in order and, on a drop with sizes, the sizes each ranked."""

    users: list[str]
    rankings: dict[str, list[str]]


async def _backups(ctx: restate.ObjectContext, config: DropConfig) -> Backups:
    """The backups; their rankings only on a drop with sizes (others read one key, as ever)."""
    users = [str(u) for u in await ctx.get("backups", type_hint=list) or []]
    if config.variants is None:
        return Backups(users, {})
    rankings = await ctx.get(RANKINGS, type_hint=dict) or {}
    return Backups(users, {str(u): [str(v) for v in r] for u, r in rankings.items()})


def _next_sized(core: state.Core, backups: Backups, variant: str | None) -> tuple[str, str] | None:
    """The backup to promote on a drop with sizes and the size they get: for a lapsed
    size, the first not yet promoted who ranked it; by hand (no size), the first who ranked
    a size with stock left, for the first such size on their list."""
    promoted = core["promoted"]
    if variant is not None:
        found = lottery.next_backup_for(variant, backups.users, backups.rankings, promoted)
        return None if found is None else (found, variant)
    left = core["variantInventory"]
    for user in backups.users:
        size = next((v for v in backups.rankings.get(user, []) if left.get(v, 0) > 0), None)
        if user not in promoted and size is not None:
            return user, size
    return None


def _promote_next(
    ctx: restate.ObjectContext,
    config: DropConfig,
    core: state.Core,
    backups: Backups,
    now: int,
    variant: str | None = None,
) -> str | None:
    purchase_end = int(core["purchaseEnd"])
    if now >= purchase_end:
        return None
    if config.variants is None:
        if core["nextBackup"] >= len(backups.users):
            return None
        user_id, size = backups.users[core["nextBackup"]], None
        core["nextBackup"] += 1
    else:
        picked = _next_sized(core, backups, variant)
        if picked is None:
            return None
        user_id, size = picked
        core["promoted"] = [*core["promoted"], user_id]
    deadline = min(now + config.purchase_window * 1000, purchase_end)
    make_winner(ctx, user_id, deadline, now, promoted=True, variant=size)
    return user_id


@handler(drop_object, invocation_retry_policy=CALLER_RETRIES)
async def promoteBackup(ctx: restate.ObjectContext) -> PromotedOut:
    """Admin: promote the next backup now (inventory still bounds the orders)."""
    core = await state.core_of(ctx)
    _require_purchase_phase(core)
    now = await effects.now_ms(ctx)
    config = await state.config_of(ctx)
    backups = await _backups(ctx, config)
    promoted = _promote_next(ctx, config, core, backups, now)
    if promoted is None:
        raise effects.fail("no_backup", "there is no backup left to promote", 409)
    await state.commit(ctx, config, core)
    return PromotedOut(promoted=promoted)
