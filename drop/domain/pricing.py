"""Quadratic ticket pricing: the first ticket is free, each extra one costs more."""

from __future__ import annotations

from dataclasses import dataclass

from drop.domain.errors import ValidationFailed

DEFAULT_MAX_TICKETS = 10


def ticket_cost(tickets: int, price_unit: float = 1.0) -> float:
    """Total cost of ``tickets`` tickets: ``price_unit * (n-1)n(2n-1)/6``.

    That is ``price_unit * sum(k^2 for k in 1..n-1)``: 1 → 0, 2 → 1, 3 → 5, 5 → 30, 10 → 285.
    """
    if tickets < 1:
        raise ValueError(f"tickets must be >= 1, got {tickets}")
    n = tickets
    # Integer arithmetic first so the unit is multiplied once (no accumulated float error).
    return price_unit * ((n - 1) * n * (2 * n - 1) // 6)


def costs_table(max_tickets: int, price_unit: float) -> list[float]:
    """``costs[n]`` is the total cost of n tickets, for n in 0..max_tickets (costs[0] = 0)."""
    return [0.0] + [ticket_cost(n, price_unit) for n in range(1, max_tickets + 1)]


@dataclass(frozen=True)
class EntryBreakdown:
    """How an entry of ``tickets`` tickets is paid for."""

    tickets: int
    rollover_used: int
    free_used: int
    paid_entries: int
    cost: float


def entry_breakdown(tickets: int, rollover_balance: int, price_unit: float) -> EntryBreakdown:
    """Split an entry into rollover credits, the free entry and paid entries.

    Rollover credits pay first, then the one free entry, then paid entries. The paid
    entries cost ``price_unit * sum(k^2 for k in 1..paid_entries)``: credits are treated as
    free entries that do not push the quadratic price curve up, so a user spending 3 credits
    on a 5-ticket entry pays for 1 paid entry (1 unit), not for tickets 5 (16 units).
    """
    if tickets < 1:
        raise ValueError(f"tickets must be >= 1, got {tickets}")
    rollover_used = min(max(rollover_balance, 0), tickets)
    remaining = tickets - rollover_used
    free_used = 1 if remaining > 0 else 0
    paid_entries = remaining - free_used
    return EntryBreakdown(
        tickets=tickets,
        rollover_used=rollover_used,
        free_used=free_used,
        paid_entries=paid_entries,
        cost=ticket_cost(paid_entries + 1, price_unit),
    )


def validate_ticket_count(tickets: int, max_tickets: int) -> None:
    """Raise ``DomainError`` (400, ``invalid_tickets``) unless 1 <= tickets <= max_tickets."""
    if isinstance(tickets, bool) or not isinstance(tickets, int):
        raise ValidationFailed("invalid_tickets", "tickets must be an integer")
    if not 1 <= tickets <= max_tickets:
        raise ValidationFailed(
            "invalid_tickets", f"tickets must be between 1 and {max_tickets}, got {tickets}"
        )
