"""The loyalty mirror in KV is read back inside the domain's ranges, whatever it holds."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.worker.user_loyalty import published_or_default
from drop.domain.loyalty import MAX_MULTIPLIER, MIN_MULTIPLIER, clamp_multiplier, known_tier


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        (1.0, 1.0),
        (1.6, 1.6),
        (2.0, 2.0),
        (50.0, 2.0),
        (1e308, 2.0),
        (0.0, 1.0),
        (-3, 1.0),
        (math.inf, 1.0),
        (math.nan, 1.0),
        ("9", 1.0),
        (True, 1.0),
        (None, 1.0),
    ],
)
def test_clamp_multiplier(stored: object, read: float) -> None:
    assert clamp_multiplier(stored) == read


@given(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(), st.none()))
def test_clamped_multiplier_is_always_in_range(stored: object) -> None:
    assert MIN_MULTIPLIER <= clamp_multiplier(stored) <= MAX_MULTIPLIER


def test_unknown_tier_reads_as_bronze() -> None:
    assert known_tier("gold") == "gold"
    assert known_tier("platinum") == "bronze"
    assert known_tier(7) == "bronze"


def test_tampered_mirror_entry_is_capped() -> None:
    stored: dict[str, Any] = {
        "multiplier": 1000.0,
        "tier": "diamond",
        "streak": 4,
        "dropsParticipated": 12,
    }
    read = published_or_default(stored)
    assert read["multiplier"] == 2.0
    assert read["tier"] == "bronze"
    assert read["streak"] == 4


def test_missing_or_malformed_entry_is_a_newcomer() -> None:
    assert published_or_default(None)["multiplier"] == 1.0
    assert published_or_default([1, 2])["multiplier"] == 1.0  # type: ignore[arg-type]
    assert published_or_default({"multiplier": 1.5, "tier": "gold"})["multiplier"] == 1.5
