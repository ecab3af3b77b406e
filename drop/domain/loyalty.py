"""Loyalty tiers and streaks: regulars get a modest, capped boost to their tickets."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

STREAK_WINDOW_MS = 30 * 24 * 3600 * 1000
STREAK_MIN = 3
STREAK_BONUS = 0.1
MIN_MULTIPLIER = 1.0
MAX_MULTIPLIER = 2.0

# (minimum drops participated, tier name, multiplier), highest first.
TIERS: tuple[tuple[int, str, float], ...] = (
    (10, "gold", 1.5),
    (3, "silver", 1.2),
    (0, "bronze", 1.0),
)


@dataclass(frozen=True)
class LoyaltyStats:
    """A user's participation history, carried across drops."""

    drops_participated: int = 0
    streak: int = 0
    last_drop_id: str | None = None
    last_drop_at_ms: int | None = None


def record_participation(stats: LoyaltyStats, drop_id: str, at_ms: int) -> LoyaltyStats:
    """Count one participation in ``drop_id`` at ``at_ms``.

    Idempotent per drop: recording the drop already recorded last returns ``stats``
    unchanged (the lottery step may be retried after a crash). The streak grows when the
    previous participation is within ``STREAK_WINDOW_MS`` of this one, else restarts at 1.
    """
    if stats.last_drop_id == drop_id:
        return stats
    consecutive = (
        stats.last_drop_at_ms is not None and abs(at_ms - stats.last_drop_at_ms) <= STREAK_WINDOW_MS
    )
    return replace(
        stats,
        drops_participated=stats.drops_participated + 1,
        streak=stats.streak + 1 if consecutive else 1,
        last_drop_id=drop_id,
        last_drop_at_ms=at_ms,
    )


def _tier(drops_participated: int) -> tuple[str, float]:
    for minimum, name, multiplier in TIERS:
        if drops_participated >= minimum:
            return name, multiplier
    return TIERS[-1][1], TIERS[-1][2]


def tier_for(drops_participated: int) -> str:
    """Tier name: "bronze" (0+ drops), "silver" (3+), "gold" (10+)."""
    return _tier(drops_participated)[0]


def multiplier_for(stats: LoyaltyStats) -> float:
    """Tier multiplier plus 0.1 for a streak of 3+, capped at 2.0, rounded to 2 decimals."""
    multiplier = _tier(stats.drops_participated)[1]
    if stats.streak >= STREAK_MIN:
        multiplier += STREAK_BONUS
    return round(min(multiplier, MAX_MULTIPLIER), 2)


def clamp_multiplier(value: object) -> float:
    """A multiplier read back from storage, forced into [1.0, 2.0]: whatever sits in the KV
    mirror, no entry can weigh more than the cap or less than a newcomer's ticket."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MIN_MULTIPLIER
    number = float(value)
    if not math.isfinite(number):
        return MIN_MULTIPLIER
    return round(min(max(number, MIN_MULTIPLIER), MAX_MULTIPLIER), 2)


def known_tier(value: object) -> str:
    """A tier name read back from storage, or the lowest tier when it is not one of ours."""
    names = {name for _, name, _ in TIERS}
    return value if isinstance(value, str) and value in names else TIERS[-1][1]


def _exact(value: float) -> Fraction:
    # The shortest repr of a float is what the user meant (1.2, not 1.19999...); going
    # through it makes 10 * 1.2 * 1.5 exactly 18 instead of 17.999...
    if not math.isfinite(value):
        raise ValueError(f"multiplier must be finite, got {value}")
    return Fraction(repr(float(value)))


def effective_tickets(tickets: int, loyalty_multiplier: float, geo_bonus: float) -> int:
    """``floor(tickets * loyalty_multiplier * geo_bonus)``, never below 1 when tickets >= 1."""
    if tickets < 1:
        return 0
    value = math.floor(Fraction(tickets) * _exact(loyalty_multiplier) * _exact(geo_bonus))
    return max(1, value)
