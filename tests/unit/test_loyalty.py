import pytest
from hypothesis import given
from hypothesis import strategies as st

from drop.domain.loyalty import (
    STREAK_WINDOW_MS,
    LoyaltyStats,
    effective_tickets,
    multiplier_for,
    record_participation,
    tier_for,
)

DAY = 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("drops", "tier"), [(0, "bronze"), (2, "bronze"), (3, "silver"), (9, "silver"), (10, "gold")]
)
def test_tiers(drops: int, tier: str) -> None:
    assert tier_for(drops) == tier


def test_multipliers() -> None:
    assert multiplier_for(LoyaltyStats()) == 1.0
    assert multiplier_for(LoyaltyStats(drops_participated=3, streak=1)) == 1.2
    assert multiplier_for(LoyaltyStats(drops_participated=3, streak=3)) == 1.3
    assert multiplier_for(LoyaltyStats(drops_participated=10, streak=10)) == 1.6


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_multiplier_is_capped_and_clean(drops: int, streak: int) -> None:
    m = multiplier_for(LoyaltyStats(drops_participated=drops, streak=streak))
    assert 1.0 <= m <= 2.0
    assert m == round(m, 2)


def test_record_participation_counts_and_streaks() -> None:
    stats = LoyaltyStats()
    for i in range(3):
        stats = record_participation(stats, f"d{i}", i * 7 * DAY)
    assert (stats.drops_participated, stats.streak, stats.last_drop_id) == (3, 3, "d2")
    assert multiplier_for(stats) == 1.3


def test_record_participation_is_idempotent_per_drop() -> None:
    once = record_participation(LoyaltyStats(), "d1", 1000)
    assert record_participation(once, "d1", 5000) is once


def test_gap_longer_than_window_restarts_streak() -> None:
    stats = record_participation(LoyaltyStats(), "a", 0)
    stats = record_participation(stats, "b", DAY)
    stats = record_participation(stats, "c", DAY + STREAK_WINDOW_MS + 1)
    assert (stats.drops_participated, stats.streak) == (3, 1)


def test_effective_tickets_is_exact() -> None:
    assert effective_tickets(10, 1.2, 1.5) == 18
    assert effective_tickets(10, 1.1, 1.0) == 11
    assert effective_tickets(3, 1.3, 1.0) == 3
    assert effective_tickets(7, 2.0, 1.5) == 21


def test_effective_tickets_never_below_one() -> None:
    assert effective_tickets(1, 1.0, 1.0) == 1
    assert effective_tickets(1, 0.5, 1.0) == 1
    assert effective_tickets(0, 2.0, 2.0) == 0


@given(st.integers(1, 100), st.sampled_from([1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 2.0]))
def test_effective_tickets_never_lowers_tickets(tickets: int, multiplier: float) -> None:
    assert effective_tickets(tickets, multiplier, 1.0) >= tickets
