"""The payment seam. No payment provider is part of the product: `capture` records the
order as captured. A real provider plugs in here; it runs inside `ctx.run("payment")`, so
it is called once per order even across crashes (give the provider the order id as its
idempotency key)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Order:
    order_id: str
    drop_id: str
    user_id: str
    amount_units: int


async def capture(order: Order) -> dict[str, Any]:
    return {"status": "captured", "provider": "none", **asdict(order)}
