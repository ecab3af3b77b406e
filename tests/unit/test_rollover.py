from hypothesis import given
from hypothesis import strategies as st

from drop.domain.rollover import (
    ROLLOVER_CAP,
    add_credits,
    consume,
    credits_for_lapsed_winner,
    credits_for_loser,
)


def test_loser_gets_paid_entries_back() -> None:
    assert credits_for_loser(4) == 4
    assert credits_for_loser(0) == 0


def test_lapsed_winner_gets_half_rounded_down() -> None:
    assert credits_for_lapsed_winner(5) == 2
    assert credits_for_lapsed_winner(1) == 0


def test_balance_is_capped() -> None:
    assert add_credits(8, 9) == ROLLOVER_CAP == 10
    assert add_credits(2, 3) == 5


def test_balance_never_negative() -> None:
    assert add_credits(1, -5) == 0


def test_consume() -> None:
    assert consume(5, 3) == (3, 2)
    assert consume(2, 9) == (2, 0)
    assert consume(0, 4) == (0, 0)


@given(st.integers(0, ROLLOVER_CAP), st.integers(0, 50))
def test_consume_conserves_credits(balance: int, wanted: int) -> None:
    used, left = consume(balance, wanted)
    assert used + left == balance
    assert 0 <= used <= wanted


@given(st.integers(0, ROLLOVER_CAP), st.integers(-20, 50))
def test_add_stays_in_bounds(balance: int, credits: int) -> None:
    assert 0 <= add_credits(balance, credits) <= ROLLOVER_CAP
