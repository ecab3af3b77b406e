"""The sales ledger's invariants: what the drop's invariant watch refuses to sell past."""

from __future__ import annotations

from drop.domain import sales


def test_a_sound_ledger_has_no_problems() -> None:
    ledger = [["d-1", "a"], ["d-2", "b"]]
    assert sales.problems(3, 1, ledger) == []
    assert sales.next_order_id("d", ledger) == "d-3"


def test_more_orders_than_items_is_an_oversell() -> None:
    ledger = [["d-1", "a"], ["d-2", "b"], ["d-3", "c"]]
    found = sales.problems(2, -1, ledger)
    assert any("3 orders for 2 items" in p for p in found)
    assert any("negative" in p for p in found)


def test_an_order_id_issued_twice_and_a_double_buyer_are_named() -> None:
    found = sales.problems(5, 2, [["d-1", "a"], ["d-1", "b"], ["d-2", "a"]])
    assert any("order ids issued twice: d-1" in p for p in found)
    assert any("more than one order: a" in p for p in found)


def test_an_inventory_that_does_not_match_the_orders_is_caught() -> None:
    # The state behind the oversell once found: the order was written, the inventory was not.
    found = sales.problems(40, 1, [[f"d-{n}", f"u{n}"] for n in range(1, 41)])
    assert found == ["inventory is 1; 40 items less 40 orders is 0"]


def test_a_drop_that_sold_before_the_ledger_continues_its_ids() -> None:
    ledger = sales.legacy_ledger("d", 2)
    assert [o[0] for o in ledger] == ["d-1", "d-2"]
    assert sales.problems(5, 3, ledger) == []
    assert sales.next_order_id("d", ledger) == "d-3"
