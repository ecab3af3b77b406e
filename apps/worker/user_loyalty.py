"""UserLoyalty (key = userId): tiers and streaks across drops (SPEC §1.3)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import restate

from drop.domain import loyalty
from drop.domain.loyalty import LoyaltyStats

user_loyalty = restate.VirtualObject("UserLoyalty")


async def _stats(ctx: restate.ObjectSharedContext | restate.ObjectContext) -> LoyaltyStats:
    raw = await ctx.get("stats", type_hint=dict)
    return LoyaltyStats(**raw) if raw else LoyaltyStats()


def _wire(stats: LoyaltyStats) -> dict[str, Any]:
    return {
        "multiplier": loyalty.multiplier_for(stats),
        "tier": loyalty.tier_for(stats.drops_participated),
        "streak": stats.streak,
        "dropsParticipated": stats.drops_participated,
    }


@user_loyalty.handler(kind="shared")
async def getMultiplier(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    return _wire(await _stats(ctx))


@user_loyalty.handler(kind="shared")
async def getStats(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    return _wire(await _stats(ctx))


@user_loyalty.handler()
async def recordParticipation(ctx: restate.ObjectContext, req: dict[str, Any]) -> dict[str, Any]:
    """Count the drop once (idempotent per drop), when its lottery runs."""
    before = await _stats(ctx)
    after = loyalty.record_participation(before, str(req["dropId"]), int(req["atMs"]))
    if after != before:
        ctx.set("stats", asdict(after))
    return _wire(after)
