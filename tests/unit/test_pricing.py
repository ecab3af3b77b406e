import pytest
from hypothesis import given
from hypothesis import strategies as st

from drop.domain.errors import DomainError
from drop.domain.pricing import (
    DEFAULT_MAX_TICKETS,
    EntryBreakdown,
    costs_table,
    entry_breakdown,
    ticket_cost,
    validate_ticket_count,
)


@pytest.mark.parametrize(("n", "cost"), [(1, 0), (2, 1), (3, 5), (5, 30), (10, 285)])
def test_cost_matches_spec_table(n: int, cost: int) -> None:
    assert ticket_cost(n) == cost


@given(st.integers(1, 200), st.sampled_from([0.0, 0.5, 1.0, 2.5]))
def test_cost_is_sum_of_squares(n: int, unit: float) -> None:
    assert ticket_cost(n, unit) == pytest.approx(unit * sum(k * k for k in range(1, n)))


def test_cost_rejects_zero_tickets() -> None:
    with pytest.raises(ValueError):
        ticket_cost(0)


def test_costs_table_is_indexed_by_ticket_count() -> None:
    table = costs_table(DEFAULT_MAX_TICKETS, 2.0)
    assert len(table) == DEFAULT_MAX_TICKETS + 1
    assert table[0] == 0.0
    assert table[1] == 0.0
    assert table[2] == 2.0
    assert table[10] == 570.0


def test_breakdown_without_credits() -> None:
    assert entry_breakdown(5, 0, 1.0) == EntryBreakdown(
        tickets=5, rollover_used=0, free_used=1, paid_entries=4, cost=30.0
    )


def test_breakdown_single_ticket_is_free() -> None:
    assert entry_breakdown(1, 0, 1.0) == EntryBreakdown(1, 0, 1, 0, 0.0)


def test_credits_pay_first_then_free_then_paid() -> None:
    b = entry_breakdown(5, 3, 1.0)
    assert (b.rollover_used, b.free_used, b.paid_entries) == (3, 1, 1)
    # Credits do not push the curve up: one paid entry costs 1 unit.
    assert b.cost == 1.0


def test_credits_covering_everything_keep_the_free_entry() -> None:
    assert entry_breakdown(3, 7, 1.0) == EntryBreakdown(3, 3, 0, 0, 0.0)


@given(st.integers(1, 100), st.integers(0, 20), st.sampled_from([0.0, 1.0, 3.0]))
def test_breakdown_accounts_for_every_ticket(tickets: int, balance: int, unit: float) -> None:
    b = entry_breakdown(tickets, balance, unit)
    assert b.rollover_used + b.free_used + b.paid_entries == tickets
    assert b.rollover_used <= balance
    assert b.free_used in (0, 1)
    assert b.cost == ticket_cost(b.paid_entries + 1, unit)
    assert b.cost <= ticket_cost(tickets, unit)


@pytest.mark.parametrize("bad", [0, -1, 11])
def test_validate_ticket_count_rejects(bad: int) -> None:
    with pytest.raises(DomainError) as exc:
        validate_ticket_count(bad, 10)
    assert (exc.value.status, exc.value.code) == (400, "invalid_tickets")


def test_validate_ticket_count_accepts_bounds() -> None:
    validate_ticket_count(1, 10)
    validate_ticket_count(10, 10)
