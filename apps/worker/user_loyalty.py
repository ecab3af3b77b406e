"""UserLoyalty (key = userId): tiers, streaks (docs/contract.md, Entries, rollover and loyalty)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import restate

from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import events
from drop.contracts import LoyaltyOut
from drop.domain import loyalty
from drop.domain.loyalty import LoyaltyStats
from drop.durable import ParticipationIn

user_loyalty = restate.VirtualObject("UserLoyalty", invocation_retry_policy=PAUSE_WHEN_STUCK)


async def _stats(ctx: restate.ObjectSharedContext | restate.ObjectContext) -> LoyaltyStats:
    raw = await ctx.get("stats", type_hint=dict)
    return LoyaltyStats(**raw) if raw else LoyaltyStats()


def _out(stats: LoyaltyStats) -> LoyaltyOut:
    return LoyaltyOut(
        multiplier=loyalty.multiplier_for(stats),
        tier=loyalty.tier_for(stats.drops_participated),
        streak=stats.streak,
        drops_participated=stats.drops_participated,
    )


def _wire(stats: LoyaltyStats) -> dict[str, Any]:
    return _out(stats).wire()


@handler(user_loyalty, kind="shared")
async def getMultiplier(ctx: restate.ObjectSharedContext) -> LoyaltyOut:
    return _out(await _stats(ctx))


@handler(user_loyalty)
async def recordParticipation(ctx: restate.ObjectContext, req: ParticipationIn) -> LoyaltyOut:
    """Count the drop once (idempotent per drop), when its lottery runs."""
    before = await _stats(ctx)
    after = loyalty.record_participation(before, req.drop_id, req.at_ms)
    if after != before:
        ctx.set("stats", asdict(after))
        await _publish(ctx, after)
    return _out(after)


async def _publish(ctx: restate.ObjectContext, stats: LoyaltyStats) -> None:
    """Mirror the stats to the `loyalty` bucket: registrations read it there instead of
    invoking this object (it changes only when a lottery runs)."""

    async def put() -> None:
        kv = await current().bus.kv(events.LOYALTY_BUCKET)
        await kv.put(ctx.key(), json.dumps(_wire(stats)).encode())

    await ctx.run_typed("publish loyalty", put)


def published_or_default(value: dict[str, Any] | None) -> dict[str, Any]:
    """What `getMultiplier` answers, from the mirror (no history yet: bronze, 1.0x).

    The mirror is writable by anything holding NATS credentials, so what comes back is
    forced into the domain's ranges before it can weigh a lottery entry."""
    if not isinstance(value, dict):
        return _wire(LoyaltyStats())
    return {
        **value,
        "multiplier": loyalty.clamp_multiplier(value.get("multiplier")),
        "tier": loyalty.known_tier(value.get("tier")),
    }
