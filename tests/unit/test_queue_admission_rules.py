"""Admission credit (token bucket) and exact places in line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drop.domain.queue_rules import (
    accrue_credit,
    make_queue_token,
    place_in_line,
    token_belongs_to,
    token_is_well_formed,
)


def test_credit_is_earned_for_the_time_that_passed() -> None:
    assert accrue_credit(0.0, 20, 0.25, burst=20) == 5.0
    assert accrue_credit(0.5, 20, 0.3, burst=20) == 6.5
    assert accrue_credit(0.0, 20, 0.0, burst=20) == 0.0


def test_credit_is_capped_at_the_burst_but_never_below_one_token() -> None:
    assert accrue_credit(0.0, 20, 60, burst=20) == 20
    assert accrue_credit(0.0, 0.5, 60, burst=0.1) == 1.0


def test_negative_inputs_earn_nothing() -> None:
    assert accrue_credit(2.0, -1, 5, burst=10) == 2.0
    assert accrue_credit(2.0, 10, -5, burst=10) == 2.0


def test_place_in_line_skips_holes_ahead_only() -> None:
    assert place_in_line(1, 1, []) == 1
    assert place_in_line(10, 4, []) == 7
    assert place_in_line(10, 4, [5, 7, 12]) == 5
    assert place_in_line(12, 4, [5, 7, 12]) == 7


@given(
    st.integers(1, 1_000),
    st.lists(st.integers(1, 2_000), unique=True, max_size=50),
    st.integers(0, 1_000),
)
def test_places_are_gapless(head: int, holes: list[int], extra: int) -> None:
    holes = sorted(h for h in holes if h >= head)
    tail = head + extra + len(holes)
    waiting = [s for s in range(head, tail + 1) if s not in set(holes)]
    assert [place_in_line(s, head, holes) for s in waiting] == list(range(1, len(waiting) + 1))


def test_tokens_name_their_drop() -> None:
    token = make_queue_token("drop-a", "ab" * 16)
    assert len(token) == 40 and token_is_well_formed(token)
    assert token_belongs_to(token, "drop-a")
    assert not token_belongs_to(token, "drop-b")
    assert not token_belongs_to("not a token", "drop-a")
    assert not token_is_well_formed("ABCDEF")
