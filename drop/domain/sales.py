"""A drop's sales ledger and the invariants it must keep.

The ledger is the list of orders in the order they were sold, `[orderId, userId]` each
(`[orderId, userId, variantId]` on a drop with sizes). It
is written in the same step as the order and the inventory, so an order id derived from it
(the next position) can never be issued twice, and the invariants below are checked from
the ledger and the counters alone, without reading any user's record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

Ledger = list[list[str]]


def next_order_id(drop_id: str, ledger: Sequence[Sequence[str]]) -> str:
    return f"{drop_id}-{len(ledger) + 1}"


def legacy_ledger(drop_id: str, sold: int) -> Ledger:
    """For a drop that sold before it kept a ledger: its orders as ids it has issued (1..n),
    with placeholder buyers, so the ids continue from n + 1."""
    return [[f"{drop_id}-{n}", f"(before the ledger) {n}"] for n in range(1, sold + 1)]


def problems(initial: int, inventory: int, ledger: Sequence[Sequence[str]]) -> list[str]:
    """What breaks the promise of a drop: more orders than items, an order id issued twice,
    a buyer with two orders, or an inventory that does not match the orders. Empty when
    all is well."""
    found: list[str] = []
    sold = len(ledger)
    if sold > initial:
        found.append(f"{sold} orders for {initial} items")
    if inventory != initial - sold:
        expected = initial - sold
        found.append(f"inventory is {inventory}; {initial} items less {sold} orders is {expected}")
    if inventory < 0:
        found.append(f"inventory is negative ({inventory})")
    twice = sorted(i for i, n in Counter(str(o[0]) for o in ledger).items() if n > 1)
    if twice:
        found.append(f"order ids issued twice: {', '.join(twice)}")
    buyers = sorted(u for u, n in Counter(str(o[1]) for o in ledger).items() if n > 1)
    if buyers:
        found.append(f"buyers with more than one order: {', '.join(buyers)}")
    return found


def size_problems(
    initial: Mapping[str, int], left: Mapping[str, int], ledger: Sequence[Sequence[str]]
) -> list[str]:
    """The same promise per size: no size sold beyond its stock, each size's stock left
    matching its orders, and every order naming a size of the drop."""
    found: list[str] = []
    sold = Counter(str(o[2]) if len(o) > 2 else "" for o in ledger)
    unsized = sorted(v for v in sold if v not in initial)
    if unsized:
        found.append(f"orders for sizes the drop does not have: {', '.join(unsized) or '(none)'}")
    for size, stock in initial.items():
        n, now = sold.get(size, 0), int(left.get(size, stock))
        if n > stock:
            found.append(f"size {size}: {n} orders for {stock} items")
        if now != stock - n:
            found.append(
                f"size {size}: inventory is {now}; {stock} items less {n} orders is {stock - n}"
            )
    return found
