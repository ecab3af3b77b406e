"""Reads of a drop's orders for other services (the webhook of a completed order)."""

from __future__ import annotations

import restate

from apps.worker.drops.object import drop_object
from apps.worker.typed import handler
from drop.durable import ForUser, OrderOut


@handler(drop_object, kind="shared")
async def getOrder(ctx: restate.ObjectSharedContext, req: ForUser) -> OrderOut:
    order = await ctx.get(f"order:{req.user_id}", type_hint=dict)
    if not order:
        return OrderOut()
    return OrderOut(order_id=str(order["orderId"]), at=int(order["at"]))
