"""Parsing and judging a registration batch's entries: pure, no durable context."""

from __future__ import annotations

import time

from pydantic import JsonValue

from apps.worker.drops.entries import Pending, Result, _balance, judge, parse_entries
from drop.contracts import DropConfig, EntryIn
from drop.durable import Refused

NOW = int(time.time() * 1000)
FENCE = {"type": "radius", "center": {"lat": 48.85, "lng": 2.35}, "radiusMeters": 1000}


def config(**extra: object) -> DropConfig:
    return DropConfig.model_validate(
        {
            "dropId": "d1",
            "inventory": 5,
            "registrationStart": NOW - 1000,
            "registrationEnd": NOW + 60_000,
            "purchaseWindow": 60,
            "maxTicketsPerUser": 5,
            **extra,
        }
    )


def refused_code(result: Result | None) -> str | None:
    return result.error.code if isinstance(result, Refused) else None


def test_a_malformed_entry_is_refused_alone_and_a_repeat_is_a_conflict() -> None:
    items: list[JsonValue] = [
        {"userId": "a", "tickets": 1},
        {"userId": "bad id!", "tickets": 1},
        {"userId": "a", "tickets": 2},
        {"userId": "b", "tickets": 3, "extra": "ignored"},
    ]
    results: list[Result | None] = [None] * len(items)
    pending = parse_entries(items, results)
    assert [(p.index, p.entry.user_id) for p in pending] == [(0, "a"), (3, "b")]
    assert refused_code(results[1]) == "invalid_request"
    assert isinstance(results[2], Refused) and results[2].error.status == 409
    assert refused_code(results[2]) == "already_registered"
    assert results[0] is None and results[3] is None


def entry(tickets: int = 1, location: dict[str, float] | None = None) -> Pending:
    return Pending(0, EntryIn(user_id="u", tickets=tickets, location=location))


def test_an_entry_on_time_with_allowed_tickets_passes() -> None:
    p = entry(tickets=5)
    assert judge(config(), NOW, p) is None
    assert p.bonus == 1.0 and p.in_zone is False


def test_entries_outside_the_registration_window_are_refused() -> None:
    assert refused_code(judge(config(), NOW + 60_000, entry())) == "registration_closed"
    assert refused_code(judge(config(), NOW - 2000, entry())) == "not_open"


def test_too_many_tickets_is_refused() -> None:
    assert refused_code(judge(config(), NOW, entry(tickets=6))) == "invalid_tickets"


def test_an_exclusive_fence_needs_a_location_inside_it() -> None:
    fenced = config(geoFence=FENCE, geoFenceMode="exclusive")
    assert refused_code(judge(fenced, NOW, entry())) == "location_required"
    far = entry(location={"lat": 40.0, "lng": -3.7})
    assert refused_code(judge(fenced, NOW, far)) == "outside_geofence"
    inside = entry(location={"lat": 48.851, "lng": 2.351})
    assert judge(fenced, NOW, inside) is None and inside.in_zone is True


def test_a_bonus_fence_raises_the_bonus_only_inside() -> None:
    bonus = config(geoFence=FENCE, geoFenceMode="bonus", geoFenceBonusMultiplier=2.0)
    inside = entry(location={"lat": 48.851, "lng": 2.351})
    outside = entry(location={"lat": 40.0, "lng": -3.7})
    assert judge(bonus, NOW, inside) is None and inside.bonus == 2.0
    assert judge(bonus, NOW, outside) is None and outside.bonus == 1.0


def test_only_a_positive_whole_balance_in_the_rollover_mirror_counts() -> None:
    assert _balance({"balance": 3}) == 3
    for mirrored in (None, [], {}, {"balance": 0}, {"balance": -2}, {"balance": True}):
        assert _balance(mirrored) == 0
    assert _balance({"balance": 1.5}) == 0 and _balance({"balance": "4"}) == 0


def test_an_entry_without_a_user_or_with_bad_tickets_is_refused_at_parsing() -> None:
    items: list[JsonValue] = [{"tickets": 1}, {"userId": "c", "tickets": "many"}, "text", None]
    results: list[Result | None] = [None] * len(items)
    assert parse_entries(items, results) == []
    assert [refused_code(r) for r in results] == ["invalid_request"] * 4
