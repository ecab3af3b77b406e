"""Drop lifecycle rules: configuration limits, phases and registration windows. No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from drop.domain.errors import Conflict, ValidationFailed
from drop.domain.geo import GeoFence, PolygonFence, RadiusFence

MIN_INVENTORY, MAX_INVENTORY = 1, 10_000
MIN_PURCHASE_WINDOW_S, MAX_PURCHASE_WINDOW_S = 60, 86_400
MIN_MAX_TICKETS, MAX_MAX_TICKETS = 1, 100
MIN_BACKUP_MULTIPLIER, MAX_BACKUP_MULTIPLIER = 1.0, 3.0
MIN_GEO_BONUS, MAX_GEO_BONUS = 1.0, 5.0
GEO_FENCE_MODES = (None, "exclusive", "bonus")


class Phase(StrEnum):
    """Where a drop is in its life. Before ``registration_start`` it is already
    ``registration``, but registering is refused with 409 ``not_open``."""

    REGISTRATION = "registration"
    LOTTERY = "lottery"
    PURCHASE = "purchase"
    COMPLETED = "completed"


@dataclass(frozen=True)
class DropRules:
    """A drop's configuration; times in epoch milliseconds."""

    inventory: int
    registration_start: int
    registration_end: int
    purchase_window_s: int
    price_unit: float = 1.0
    max_tickets: int = 10
    backup_multiplier: float = 1.5
    geo_fence: GeoFence | None = None
    geo_fence_mode: str | None = None
    geo_bonus: float = 1.5


def _require(ok: bool, code: str, message: str) -> None:
    if not ok:
        raise ValidationFailed(code, message)


def _in_range(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def validate_rules(r: DropRules, *, min_purchase_window_s: int = MIN_PURCHASE_WINDOW_S) -> None:
    """Raise ``DomainError`` (400) naming the first rule the configuration breaks.

    ``min_purchase_window_s`` is lowered only by tests and demos that run a whole drop in
    seconds; production keeps the 60 s floor.
    """
    _require(
        MIN_INVENTORY <= r.inventory <= MAX_INVENTORY,
        "invalid_inventory",
        f"inventory must be between {MIN_INVENTORY} and {MAX_INVENTORY}, got {r.inventory}",
    )
    _require(
        r.registration_end > r.registration_start,
        "invalid_registration_window",
        "registrationEnd must be after registrationStart",
    )
    _require(
        min_purchase_window_s <= r.purchase_window_s <= MAX_PURCHASE_WINDOW_S,
        "invalid_purchase_window",
        f"purchaseWindow must be between {min_purchase_window_s} and "
        f"{MAX_PURCHASE_WINDOW_S} seconds, got {r.purchase_window_s}",
    )
    _require(
        MIN_MAX_TICKETS <= r.max_tickets <= MAX_MAX_TICKETS,
        "invalid_max_tickets",
        f"maxTicketsPerUser must be between {MIN_MAX_TICKETS} and {MAX_MAX_TICKETS}, "
        f"got {r.max_tickets}",
    )
    _require(
        math.isfinite(r.price_unit) and r.price_unit >= 0,
        "invalid_price_unit",
        f"priceUnit must be a non-negative number, got {r.price_unit}",
    )
    _require(
        _in_range(r.backup_multiplier, MIN_BACKUP_MULTIPLIER, MAX_BACKUP_MULTIPLIER),
        "invalid_backup_multiplier",
        f"backupMultiplier must be between {MIN_BACKUP_MULTIPLIER} and "
        f"{MAX_BACKUP_MULTIPLIER}, got {r.backup_multiplier}",
    )
    _validate_geo(r)


def _validate_geo(r: DropRules) -> None:
    _require(
        r.geo_fence_mode in GEO_FENCE_MODES,
        "invalid_geofence_mode",
        f'geoFenceMode must be "exclusive" or "bonus", got {r.geo_fence_mode!r}',
    )
    _require(
        r.geo_fence is None or isinstance(r.geo_fence, RadiusFence | PolygonFence),
        "invalid_geofence",
        "geoFence must be a radius or polygon fence",
    )
    _require(
        r.geo_fence_mode is None or r.geo_fence is not None,
        "geofence_required",
        "geoFenceMode is set but no geoFence is given",
    )
    _require(
        _in_range(r.geo_bonus, MIN_GEO_BONUS, MAX_GEO_BONUS),
        "invalid_geo_bonus",
        f"geoFenceBonusMultiplier must be between {MIN_GEO_BONUS} and {MAX_GEO_BONUS}, "
        f"got {r.geo_bonus}",
    )


def check_can_register(phase: Phase, now_ms: int, r: DropRules) -> None:
    """Raise 409 ``not_open`` before the start, 409 ``registration_closed`` once closed."""
    check_entry_time(phase, now_ms, r.registration_start, r.registration_end)


def check_entry_time(phase: Phase, now_ms: int, start_ms: int, end_ms: int) -> None:
    """The same rule from the published times alone (what a registration sees)."""
    if phase is not Phase.REGISTRATION or now_ms >= end_ms:
        raise Conflict("registration_closed", "registration for this drop is closed")
    if now_ms < start_ms:
        raise Conflict("not_open", "registration for this drop has not opened yet")


def purchase_end(lottery_at_ms: int, purchase_window_s: int) -> int:
    """When the purchase window closes, in epoch milliseconds."""
    return lottery_at_ms + purchase_window_s * 1000
