"""A drop on the wire: the config that creates it and the state it publishes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from drop.contracts.base import Count, EpochMs, EpochMsIn, Id, Wire, unsized
from drop.domain import geo
from drop.domain.errors import DomainError
from drop.domain.lottery.allocation import MAX_VARIANTS, Variant, variant_problems

MAX_GEO_VERTICES = 1_000


class VariantIn(Wire):
    """One size of a drop (issue 23): an id like any other, a label, its own stock."""

    id: Id
    label: str = Field(default="", max_length=100)
    inventory: int = Field(ge=1, le=10_000)


class DropConfig(Wire):
    """What creates a drop (docs/contract.md, Drops), plus the product shown on its page.

    With `variants` (sizes), `inventory` is their sum: it may be left out, and is refused
    when it says otherwise."""

    drop_id: Id
    inventory: int = Field(ge=1, le=10_000)
    registration_start: EpochMsIn
    registration_end: EpochMsIn
    purchase_window: int = Field(ge=1, le=86_400, description="seconds each winner has to buy")
    ticket_price_unit: float = Field(default=1.0, ge=0, le=1_000_000)
    max_tickets_per_user: int = Field(default=10, ge=1, le=100)
    backup_multiplier: float = Field(default=1.5, ge=1.0, le=3.0)
    geo_fence: dict[str, Any] | None = None
    geo_fence_mode: Literal["exclusive", "bonus"] | None = None
    geo_fence_bonus_multiplier: float = Field(default=1.5, ge=1.0, le=5.0)
    product_name: str = Field(default="Limited drop", min_length=1, max_length=200)
    product_description: str = Field(default="", max_length=2000)
    image_url: str = Field(default="", max_length=500)
    variants: list[VariantIn] | None = Field(
        default=None, min_length=1, max_length=MAX_VARIANTS, exclude_if=unsized
    )

    @model_validator(mode="before")
    @classmethod
    def _inventory_of_variants(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
            return data
        sizes = data["variants"]
        stock = [v.get("inventory") if isinstance(v, dict) else None for v in sizes]
        if not all(type(n) is int for n in stock):
            return data
        total = sum(n for n in stock if isinstance(n, int))
        given = data.get("inventory")
        if given is None:
            return {**data, "inventory": total}
        if given != total:
            raise ValueError(
                f"inventory {given} is not the sum of the variants' inventories ({total})"
            )
        return data

    @field_validator("variants")
    @classmethod
    def _distinct_variants(cls, value: list[VariantIn] | None) -> list[VariantIn] | None:
        if value is not None:
            problems = variant_problems([Variant(v.id, v.label, v.inventory) for v in value])
            if problems:
                raise ValueError("; ".join(problems))
        return value

    def sizes(self) -> tuple[Variant, ...] | None:
        """The variants as the draw takes them; None on a drop without."""
        if self.variants is None:
            return None
        return tuple(Variant(v.id, v.label or v.id, v.inventory) for v in self.variants)

    @field_validator("geo_fence")
    @classmethod
    def _fence_in_range(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The domain's own fence rules (docs/contract.md, Drops: radius 100..50000 m, lat/lng
        ranges), so a bad fence is a 400 here rather than a failure inside the durable layer.
        What is kept and published is the fence as the domain reads it: unknown fields (of
        any size or depth) are dropped, as everywhere else on the wire."""
        if value is None:
            return None
        vertices = value.get("vertices")
        if isinstance(vertices, list) and len(vertices) > MAX_GEO_VERTICES:
            raise ValueError(f"a polygon has at most {MAX_GEO_VERTICES} vertices")
        name = value.get("name")
        if isinstance(name, str) and len(name) > 200:
            raise ValueError("a fence name has at most 200 characters")
        try:
            fence = geo.fence_from_wire(value)
        except DomainError as exc:
            raise ValueError(exc.message) from None
        return geo.fence_to_wire(fence)


class TicketPricing(Wire):
    price_unit: float
    max_tickets: Count
    costs: list[float]


class VariantLeft(Wire):
    """One size in a drop's published state: its stock left and at creation."""

    id: str
    label: str
    inventory: Count
    initial_inventory: Count


class DropState(Wire):
    """The published snapshot of a drop (docs/contract.md, Drops: 'Drop state'), ordered
    by `version`."""

    drop_id: str
    phase: str
    inventory: Count
    initial_inventory: Count
    participant_count: Count = 0
    total_tickets: Count = 0
    total_effective_tickets: Count = 0
    winner_count: Count = 0
    backup_winner_count: Count = 0
    registration_start: EpochMs
    registration_end: EpochMs
    purchase_end: EpochMs | None = None
    purchase_window: Count
    ticket_pricing: TicketPricing
    lottery_commitment: str
    # The beacon round committed at creation: {chainHash, scheme, publicKey, genesis,
    # period, round, roundTime (ms), urls}; its value is mixed into the draw's seed.
    beacon: dict[str, Any] | None = None
    geo_fence: dict[str, Any] | None = None
    geo_fence_mode: str | None = None
    geo_fence_bonus_multiplier: float = 1.5
    product_name: str = ""
    product_description: str = ""
    image_url: str = ""
    version: Count = 0
    # Only on a drop with sizes (issue 23): a drop without them is unchanged on the wire.
    variants: list[VariantLeft] | None = Field(default=None, exclude_if=unsized)
