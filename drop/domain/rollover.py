"""Rollover credits: paid entries that come back to losers, capped per user."""

from __future__ import annotations

ROLLOVER_CAP = 10


def credits_for_loser(paid_entries: int) -> int:
    """A loser gets all of their paid entries back."""
    return max(paid_entries, 0)


def credits_for_lapsed_winner(paid_entries: int) -> int:
    """A winner who never bought gets back half (floor) of their paid entries."""
    return max(paid_entries, 0) // 2


def add_credits(balance: int, credits: int) -> int:
    """New balance after adding ``credits``, capped at ``ROLLOVER_CAP`` and never negative."""
    return max(0, min(ROLLOVER_CAP, balance + credits))


def consume(balance: int, wanted: int) -> tuple[int, int]:
    """Use up to ``wanted`` credits; return ``(used, new_balance)``."""
    used = max(0, min(balance, wanted))
    return used, max(balance, 0) - used
