"""The orders export's CSV: fixed columns, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io

from apps.api.routes.orders import OrderOut, OrdersExport, as_csv


def test_rows_follow_the_columns_and_formulas_are_defused() -> None:
    export = OrdersExport(
        drop_id="d1",
        orders=[
            OrderOut(
                order_id="d1-1",
                user_id="-u1",
                email="a@example.com",
                item="=HYPERLINK(1)",
                variant_id="m",
                amount=1,
                time="2025-01-01T00:00:00.000+00:00",
            ),
            OrderOut(
                order_id="d1-2",
                user_id="u2",
                email=None,
                item="Tee",
                variant_id=None,
                amount=1,
                time=None,
            ),
        ],
    )
    rows = list(csv.reader(io.StringIO(as_csv(export))))
    assert rows[0] == ["orderId", "userId", "email", "item", "variantId", "amount", "time"]
    assert rows[1] == [
        "d1-1",
        "'-u1",
        "a@example.com",
        "'=HYPERLINK(1)",
        "m",
        "1",
        "2025-01-01T00:00:00.000+00:00",
    ]
    assert rows[2] == ["d1-2", "u2", "", "Tee", "", "1", ""]
