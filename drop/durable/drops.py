"""What the Drop object's handlers take and answer: create, register, draw, proofs,
purchase, the size funnel and the orders export."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from drop.contracts import DropConfig, RegisterOut
from drop.durable.base import Durable


class NewDrop(DropConfig):
    """A drop's config as `initialize` takes it: the id may come from the key alone."""

    drop_id: str | None = None  # type: ignore[assignment]


class Created(Durable):
    drop_id: str
    commitment: str
    created: bool


class EntryBatch(Durable):
    # Judged one by one (`drop.contracts.EntryIn`): a malformed entry is refused alone.
    entries: list[JsonValue] = Field(default_factory=list)


class Registered(RegisterOut):
    receipt: dict[str, JsonValue]


class DrawIn(Durable):
    trigger: str | None = None


class DrawSummary(Durable):
    phase: str
    winner_count: int
    backup_winner_count: int
    purchase_end: int | None


class NoProof(Durable):
    available: Literal[False]
    commitment: str | None = None


class LotteryProofOut(Durable):
    available: Literal[True]
    proof: dict[str, JsonValue]
    commitment: str


class NoInclusion(Durable):
    available: Literal[False]


class InclusionOut(Durable):
    available: Literal[True]
    proof: dict[str, JsonValue]


class ForUser(Durable):
    # Checked by the handler (400 `userId is required`) after the drop's existence is known.
    user_id: str | None = None


class PurchaseTry(Durable):
    user_id: str | None = None
    purchase_token: str | None = None


class TokenOut(Durable):
    success: bool
    purchase_token: str
    expires_at: int


class Purchased(Durable):
    success: bool
    inventory: int
    phase: str
    order_id: str


class ExpiryOut(Durable):
    expired: bool
    promoted: str | None = None


class PromotedOut(Durable):
    promoted: str


class SizeStage(Durable):
    """One size's funnel (admin): its stock, who ranked it, who was drawn for it, sales."""

    id: str
    label: str
    inventory: int
    left: int
    ranked_first: int
    ranked_any: int
    winners: int
    backups: int
    sold: int


class SizeFunnel(Durable):
    drop_id: str
    phase: str
    participant_count: int
    variants: list[SizeStage]


class OrderRow(Durable):
    order_id: str
    user_id: str
    variant_id: str | None = None
    amount_units: int = 0
    at_ms: int | None = None


class OrdersOut(Durable):
    drop_id: str
    product_name: str
    orders: list[OrderRow]


class OrderOut(Durable):
    """A user's order in a drop (empty when they have none)."""

    order_id: str | None = None
    at: int | None = None
