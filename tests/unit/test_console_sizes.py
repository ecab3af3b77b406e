"""The console's create form with sizes (issue 23): rows become the drop's variants."""

from __future__ import annotations

import pytest

from apps.web.drop_form import drop_config, size_rows

BASE = {
    "productName": "Sized Parka",
    "dropId": "sized-parka",
    "inventory": "100",
    "purchaseWindow": "120",
    "ticketPriceUnit": "1",
    "maxTicketsPerUser": "5",
    "backupMultiplier": "1.5",
}


def test_size_rows_become_variants_in_row_order_and_the_inventory_is_left_to_their_sum() -> None:
    form = {
        **BASE,
        "variant-10-id": "XL",
        "variant-10-label": "",
        "variant-10-inventory": "1",
        "variant-2-id": "M",
        "variant-2-label": "Medium",
        "variant-2-inventory": "4",
        "variant-3-id": "",
        "variant-3-label": " ",
        "variant-3-inventory": "",
    }
    body = drop_config(form, now_ms=0)
    assert body["variants"] == [
        {"id": "M", "label": "Medium", "inventory": 4},
        {"id": "XL", "label": "XL", "inventory": 1},
    ]
    assert "inventory" not in body


def test_without_sizes_the_drop_has_one_inventory_as_before() -> None:
    body = drop_config({**BASE, "variant-0-id": "", "variant-0-inventory": ""}, now_ms=0)
    assert body["inventory"] == 100 and "variants" not in body


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"variant-0-label": "Small", "variant-0-inventory": "3"}, "Size 1: its id must be"),
        ({"variant-0-id": "a b", "variant-0-inventory": "3"}, "Size 1: its id ('a b') must be"),
        ({"variant-0-id": "S", "variant-0-inventory": "x"}, "Size S: inventory must be a number"),
        ({"variant-0-id": "S", "variant-0-inventory": ""}, "Size S: inventory must be a number"),
    ],
)
def test_an_unreadable_size_row_is_refused_with_a_reason(row: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        drop_config({**BASE, **row}, now_ms=0)


def test_a_51st_size_is_refused() -> None:
    rows = {
        f"variant-{n}-{f}": v for n in range(51) for f, v in (("id", f"v{n}"), ("inventory", "1"))
    }
    with pytest.raises(ValueError, match="at most 50 sizes, not 51"):
        drop_config({**BASE, **rows}, now_ms=0)
    assert len(size_rows(rows)) == 51
