"""The orders export (admin): a drop's orders as JSON, or CSV with `Accept: text/csv`."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from apps.api.deps import Admin, DropId, NatsBus, State
from apps.api.errors import refusals
from apps.api.guards import fail_closed
from apps.api.known import known_drop
from drop import durable
from drop.adapters.contact_store import ContactStore
from drop.contracts import Wire

router = APIRouter(prefix="/api")

COLUMNS = ("orderId", "userId", "email", "item", "variantId", "amount", "time")
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class OrderOut(Wire):
    order_id: str
    user_id: str
    email: str | None
    item: str
    variant_id: str | None
    amount: int
    time: str | None


class OrdersExport(Wire):
    drop_id: str
    orders: list[OrderOut]


def _iso(at_ms: int | None) -> str | None:
    if at_ms is None:
        return None
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def as_csv(export: OrdersExport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for order in export.orders:
        row = order.wire()
        writer.writerow([_cell(row[name]) for name in COLUMNS])
    return out.getvalue()


@router.get("/drops/{dropId}/orders", dependencies=[Admin], responses=refusals(400, 401, 404, 503))
async def orders(dropId: DropId, request: Request, state: State, bus: NatsBus) -> Any:
    """Every order of the drop in the order sold (admin): order id, user id, the email the
    buyer gave (if any), item, variant (if any), amount (units) and time (UTC, ISO 8601).
    JSON by default; CSV with `Accept: text/csv`."""
    await known_drop(state, dropId)
    found = await state.ingress.call(durable.DROP_ORDERS, None, key=dropId)
    contacts = ContactStore(bus)
    async with fail_closed("contact store"):
        known = await asyncio.gather(*(contacts.get(o.user_id) for o in found.orders))
    export = OrdersExport(
        drop_id=dropId,
        orders=[
            OrderOut(
                order_id=o.order_id,
                user_id=o.user_id,
                email=contact.email if contact else None,
                item=found.product_name,
                variant_id=o.variant_id,
                amount=o.amount_units,
                time=_iso(o.at_ms),
            )
            for o, contact in zip(found.orders, known, strict=True)
        ],
    )
    if "text/csv" in request.headers.get("accept", ""):
        disposition = f'attachment; filename="{dropId}-orders.csv"'
        return Response(
            as_csv(export),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
        )
    return Response(
        export.model_dump_json(by_alias=True),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
