"""Registration by group commit: one serialised invocation takes a whole batch of entries.

The API gathers the entries that arrive for a drop while the previous batch is in flight
and sends them here together (`registerBatch`). Each entry is judged on its own, so one bad
entry fails only itself; the accepted ones get consecutive positions, their rows, their
rollover spent exactly once, and one journaled step publishes every status at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import restate
from pydantic import JsonValue, ValidationError

from apps.worker import calls, effects, metrics
from apps.worker.drops import state
from apps.worker.drops.object import CALLER_RETRIES, drop_object
from apps.worker.runtime import current
from apps.worker.typed import handler
from apps.worker.user_loyalty import published_or_default
from drop import durable, events
from drop.contracts import DropConfig, EntryIn, UserState
from drop.domain import geo, lottery, pricing, receipts
from drop.domain.drop_rules import Phase, check_entry_time
from drop.domain.errors import DomainError
from drop.domain.loyalty import effective_tickets
from drop.durable import Batch, EntryBatch, Ok, Refused, Registered, refusal

MAX_BATCH = 500
Result = Ok[Registered] | Refused


@dataclass
class Pending:
    index: int
    entry: EntryIn
    bonus: float = 1.0
    in_zone: bool = False


async def _mirrors(user_ids: list[str]) -> dict[str, Any]:
    """The clock, and each user's loyalty and rollover mirrors, read in one step (one
    batched read of each bucket for the whole batch)."""
    bus = current().bus
    loyal, mirrored = await asyncio.gather(
        bus.get_json_many(events.LOYALTY_BUCKET, user_ids),
        bus.get_json_many(events.ROLLOVER_BUCKET, user_ids),
    )
    loyalty = {uid: v for uid, v in loyal.items() if isinstance(v, dict)}
    credits = {uid: _balance(mirrored.get(uid)) for uid in user_ids}
    return {
        "now": effects.wall_clock_ms(),
        "loyalty": loyalty,
        "rollover": {uid: n for uid, n in credits.items() if n > 0},
    }


def _balance(mirrored: Any) -> int:
    """A balance read back from the mirror; anything malformed reads as none (the spend
    itself is exact in UserRollover, this only decides whether to ask it)."""
    if not isinstance(mirrored, dict):
        return 0
    value = mirrored.get("balance")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_entries(items: list[JsonValue], results: list[Result | None]) -> list[Pending]:
    """The entries that parse, once per user; each other item gets its refusal in `results`."""
    pending: list[Pending] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        try:
            entry = EntryIn.model_validate(raw)
        except ValidationError:
            results[i] = refusal(400, "invalid_request", "the entry is not valid")
            continue
        if entry.user_id in seen:
            results[i] = refusal(
                409, "already_registered", f"{entry.user_id} is already registered"
            )
            continue
        seen.add(entry.user_id)
        pending.append(Pending(i, entry))
    return pending


def judge(config: DropConfig, now: int, p: Pending) -> Result | None:
    """The entry's own rules: on time, ticket count, sizes, geo-fence."""
    fence = geo.fence_from_wire(config.geo_fence) if config.geo_fence else None
    try:
        check_entry_time(
            Phase.REGISTRATION, now, config.registration_start, config.registration_end
        )
        pricing.validate_ticket_count(p.entry.tickets, config.max_tickets_per_user)
        check_sizes(config, p.entry.variants)
        point = geo.latlng_from_wire(p.entry.location) if p.entry.location is not None else None
        decision = geo.decide(
            fence, config.geo_fence_mode, config.geo_fence_bonus_multiplier, point
        )
    except DomainError as exc:
        return refusal(exc.status, exc.code, exc.message)
    p.bonus, p.in_zone = decision.bonus, decision.in_zone
    return None


def check_sizes(config: DropConfig, ranking: list[str] | None) -> None:
    """A drop with sizes needs a ranked list of its own; a drop without refuses one."""
    if config.variants is None:
        if ranking is not None:
            raise DomainError(
                "invalid_variants", "variants: this drop has no sizes; leave the field out", 400
            )
        return
    lottery.check_ranking(ranking or [], [v.id for v in config.variants])


async def _spend_tokens(ctx: restate.ObjectContext, pending: list[Pending]) -> dict[int, Refused]:
    """Spend the queue tokens of the entries that carry one, in one call to the queue."""
    with_token = [p for p in pending if p.entry.queue_token]
    if not with_token:
        return {}
    uses = durable.TokenUses(
        uses=[
            durable.TokenUse(token=p.entry.queue_token or "", user_id=p.entry.user_id)
            for p in with_token
        ],
        brief=True,
    )
    answer = await calls.call(ctx, durable.QUEUE_USE_TOKENS, uses, key=ctx.key())
    return {
        p.index: verdict
        for p, verdict in zip(with_token, answer.results, strict=True)
        if isinstance(verdict, Refused)
    }


@handler(drop_object, invocation_retry_policy=CALLER_RETRIES)
async def registerBatch(ctx: restate.ObjectContext, req: EntryBatch) -> Batch[Registered]:
    """Enter a batch of people; `results[i]` is `{"ok": answer}` or `{"error": {...}}`."""
    items = req.entries[:MAX_BATCH]
    config = await state.config_of(ctx)
    core = await state.core_of(ctx)
    results: list[Result | None] = [None] * len(items)
    if core["phase"] != Phase.REGISTRATION.value:
        closed = refusal(409, "registration_closed", "registration for this drop is closed")
        return Batch[Registered](results=[closed] * len(items))
    pending = parse_entries(items, results)
    known = [ctx.get(f"user:{p.entry.user_id}", type_hint=int) for p in pending]
    fresh: list[Pending] = []
    for p, future in zip(pending, known, strict=True):
        if await future is not None:
            results[p.index] = refusal(
                409, "already_registered", f"{p.entry.user_id} is already registered"
            )
        else:
            fresh.append(p)
    user_ids = [p.entry.user_id for p in fresh]

    async def arrival() -> dict[str, Any]:
        return await _mirrors(user_ids)

    seen = await ctx.run_typed("arrival", arrival)
    now = int(seen["now"])
    judged = []
    for p in fresh:
        verdict = judge(config, now, p)
        if verdict is None:
            judged.append(p)
        else:
            results[p.index] = verdict
    refused = await _spend_tokens(ctx, judged)
    accepted = [p for p in judged if p.index not in refused]
    for index, verdict in refused.items():
        results[index] = verdict
    users = await _enter(ctx, config, core, accepted, seen)
    snap = state.save(ctx, config, core)
    await effects.publish_batch(ctx, snap, users)
    signer = receipts.signer_for(current().secrets.receipt_signing_key)
    metrics.count(metrics.REGISTRATIONS, ctx.key(), len(users))
    for p, user in zip(accepted, users, strict=True):
        ranking = p.entry.variants or ()
        receipt = signer.sign(
            ctx.key(), user.user_id, user.tickets, user.effective_tickets, now, ranking
        )
        results[p.index] = Ok[Registered](ok=_answer(user, core, receipt.to_wire()))
    return Batch[Registered](results=[r for r in results if r is not None])


async def _enter(
    ctx: restate.ObjectContext,
    config: DropConfig,
    core: state.Core,
    accepted: list[Pending],
    seen: dict[str, Any],
) -> list[UserState]:
    """Spend rollover where there is some, then append each entry's row."""
    credits: dict[str, int] = seen["rollover"]
    spending = {
        p.entry.user_id: calls.start(
            ctx,
            durable.ROLLOVER_CONSUME,
            durable.ConsumeIn(drop_id=ctx.key(), wanted=p.entry.tickets),
            key=p.entry.user_id,
        )
        for p in accepted
        if credits.get(p.entry.user_id, 0) > 0
    }
    spent = {uid: await calls.answer(f) for uid, f in spending.items()}
    nothing = durable.Consumed(used=0, balance=0)
    first = core["participantCount"] + 1
    keys = list(dict.fromkeys(state.chunk_key(first + n) for n in range(len(accepted))))
    stored = [ctx.get(key, type_hint=list) for key in keys]
    chunks: dict[str, list[list[JsonValue]]] = {
        k: list(await f or []) for k, f in zip(keys, stored, strict=True)
    }
    # The commit point: everything is read; the rows and each entrant's key are written.
    users = []
    for p in accepted:
        uid = p.entry.user_id
        loyal = published_or_default(seen["loyalty"].get(uid))
        multiplier, tier = float(loyal["multiplier"]), str(loyal["tier"])
        effective = effective_tickets(p.entry.tickets, multiplier, p.bonus)
        used = spent.get(uid, nothing)
        breakdown = pricing.entry_breakdown(p.entry.tickets, used.used, config.ticket_price_unit)
        position = core["participantCount"] + 1
        core["participantCount"] = position
        core["totalTickets"] += p.entry.tickets
        core["totalEffectiveTickets"] += effective
        user = UserState(
            drop_id=ctx.key(),
            user_id=uid,
            status="registered",
            tickets=p.entry.tickets,
            effective_tickets=effective,
            position=position,
            rollover_used=breakdown.rollover_used,
            rollover_balance=used.balance,
            paid_entries=breakdown.paid_entries,
            cost=breakdown.cost,
            loyalty_tier=tier,
            loyalty_multiplier=multiplier,
            geo_bonus=p.bonus,
            in_geo_zone=p.in_zone,
            version=1,
        )
        row = state.row_of(user, p.entry.variants or ())
        state.count_ranking(core, row.ranking)
        chunks[state.chunk_key(position)].append(row.wire())
        ctx.set(f"user:{uid}", position)
        users.append(user)
    for key, rows in chunks.items():
        ctx.set(key, rows)
    return users


def _answer(user: UserState, core: state.Core, receipt: Mapping[str, object]) -> Registered:
    return Registered(
        success=True,
        participant_count=core["participantCount"],
        total_tickets=core["totalTickets"],
        user_tickets=user.tickets,
        effective_tickets=user.effective_tickets,
        position=user.position or 0,
        rollover_used=user.rollover_used,
        paid_entries=user.paid_entries,
        cost=user.cost,
        loyalty_tier=user.loyalty_tier,
        loyalty_multiplier=user.loyalty_multiplier,
        geo_bonus=user.geo_bonus,
        in_geo_zone=user.in_geo_zone,
        receipt=dict(receipt),
    )
