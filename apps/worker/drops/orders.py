"""The orders export: every order of a drop, in the order sold, for the brand's systems."""

from __future__ import annotations

import restate

from apps.worker.drops import state
from apps.worker.drops.object import drop_object
from apps.worker.drops.watch import LEDGER
from apps.worker.typed import handler
from drop.durable import OrderRow, OrdersOut


@handler(drop_object, kind="shared")
async def getOrders(ctx: restate.ObjectSharedContext) -> OrdersOut:
    """Each ledger row (`[orderId, userId]`, a variant id third on drops with variants)
    with the order's amount and time from the buyer's order record."""
    config = await state.config_of(ctx)
    ledger = [list(row) for row in await ctx.get(LEDGER, type_hint=list) or []]
    records = [ctx.get(f"order:{row[1]}", type_hint=dict) for row in ledger]
    orders = []
    for row, pending in zip(ledger, records, strict=True):
        record = await pending or {}
        paid = record.get("payment") or {}
        orders.append(
            OrderRow(
                order_id=str(row[0]),
                user_id=str(row[1]),
                variant_id=str(row[2]) if len(row) > 2 and row[2] is not None else None,
                amount_units=int(paid.get("amount_units", 0)),
                at_ms=record.get("at"),
            )
        )
    return OrdersOut(drop_id=config.drop_id, product_name=config.product_name, orders=orders)
