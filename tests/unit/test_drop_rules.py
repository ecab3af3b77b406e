from dataclasses import replace

import pytest

from drop.domain.drop_rules import (
    DropRules,
    Phase,
    check_can_register,
    purchase_end,
    validate_rules,
)
from drop.domain.errors import DomainError
from drop.domain.geo import LatLng, RadiusFence

RULES = DropRules(
    inventory=100, registration_start=1_000, registration_end=2_000, purchase_window_s=600
)
FENCE = RadiusFence(center=LatLng(0, 0), radius_meters=1_000)


def test_phase_values() -> None:
    assert [p.value for p in Phase] == ["registration", "lottery", "purchase", "completed"]
    assert Phase("purchase") is Phase.PURCHASE
    assert isinstance(Phase.LOTTERY, str)


def test_defaults_are_valid() -> None:
    validate_rules(RULES)
    validate_rules(replace(RULES, geo_fence=FENCE, geo_fence_mode="bonus", geo_bonus=5.0))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"inventory": 0}, "invalid_inventory"),
        ({"inventory": 10_001}, "invalid_inventory"),
        ({"registration_end": 1_000}, "invalid_registration_window"),
        ({"purchase_window_s": 59}, "invalid_purchase_window"),
        ({"purchase_window_s": 86_401}, "invalid_purchase_window"),
        ({"max_tickets": 0}, "invalid_max_tickets"),
        ({"max_tickets": 101}, "invalid_max_tickets"),
        ({"price_unit": -0.01}, "invalid_price_unit"),
        ({"price_unit": float("nan")}, "invalid_price_unit"),
        ({"backup_multiplier": 0.9}, "invalid_backup_multiplier"),
        ({"backup_multiplier": 3.1}, "invalid_backup_multiplier"),
        ({"geo_fence_mode": "vip", "geo_fence": FENCE}, "invalid_geofence_mode"),
        ({"geo_fence_mode": "exclusive"}, "geofence_required"),
        ({"geo_bonus": 0.5}, "invalid_geo_bonus"),
        ({"geo_bonus": 5.5}, "invalid_geo_bonus"),
    ],
)
def test_invalid_rules(changes: dict[str, object], code: str) -> None:
    with pytest.raises(DomainError) as exc:
        validate_rules(replace(RULES, **changes))  # type: ignore[arg-type]
    assert (exc.value.status, exc.value.code) == (400, code)


def test_registration_window() -> None:
    check_can_register(Phase.REGISTRATION, 1_000, RULES)
    check_can_register(Phase.REGISTRATION, 1_999, RULES)
    cases = [
        (Phase.REGISTRATION, 999, "not_open"),
        (Phase.REGISTRATION, 2_000, "registration_closed"),
        (Phase.LOTTERY, 1_500, "registration_closed"),
        (Phase.PURCHASE, 1_500, "registration_closed"),
        (Phase.COMPLETED, 500, "registration_closed"),
    ]
    for phase, now, code in cases:
        with pytest.raises(DomainError) as exc:
            check_can_register(phase, now, RULES)
        assert (exc.value.status, exc.value.code) == (409, code)


def test_purchase_end() -> None:
    assert purchase_end(10_000, 60) == 70_000
