"""Wire models shared by api, sse, web and worker: camelCase on the wire, snake_case in code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from drop.settings import QueueSettings

ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class StrictWire(Wire):
    """Request bodies: unknown fields are refused rather than silently ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class LatLngIn(StrictWire):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class DropConfig(StrictWire):
    """What creates a drop (SPEC §3), plus the product shown on its page."""

    drop_id: Id
    inventory: int = Field(ge=1, le=10_000)
    registration_start: int = Field(ge=0)
    registration_end: int = Field(ge=0)
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


class BotValidation(StrictWire):
    fingerprint: str = Field(min_length=1, max_length=200)
    fingerprint_confidence: float = Field(ge=0, le=1)
    timing_ms: int = Field(ge=0)
    pow_solution: str = Field(min_length=1, max_length=64)
    pow_challenge: str = Field(min_length=1, max_length=100)


class BehaviorSignalsIn(Wire):
    mouse_moves: int = Field(default=0, ge=0)
    scrolls: int = Field(default=0, ge=0)
    key_presses: int = Field(default=0, ge=0)
    focus_changes: int = Field(default=0, ge=0)
    visibility_changes: int = Field(default=0, ge=0)
    time_on_page_ms: int = Field(default=0, ge=0)
    interaction_variance: float = Field(default=0.0, ge=0, le=1)


class RegisterIn(StrictWire):
    user_id: Id
    tickets: int = Field(ge=1, le=100)
    bot_validation: BotValidation | None = None
    queue_token: str | None = Field(default=None, max_length=200)
    behavior_signals: BehaviorSignalsIn | None = None
    location: LatLngIn | None = None


class RegisterOut(Wire):
    success: bool = True
    participant_count: int
    total_tickets: int
    user_tickets: int
    effective_tickets: int
    position: int
    rollover_used: int
    paid_entries: int
    cost: float
    loyalty_tier: str
    loyalty_multiplier: float
    geo_bonus: float
    in_geo_zone: bool


class UserIn(StrictWire):
    user_id: Id


class PurchaseIn(StrictWire):
    user_id: Id
    purchase_token: str = Field(min_length=1, max_length=1000)


class PurchaseStartOut(Wire):
    success: bool = True
    purchase_token: str
    expires_at: int


class PurchaseOut(Wire):
    success: bool = True
    inventory: int
    phase: str
    order_id: str


class TicketPricing(Wire):
    price_unit: float
    max_tickets: int
    costs: list[float]


class DropState(Wire):
    """The published snapshot of a drop (SPEC §4 'Drop state'), ordered by `version`."""

    drop_id: str
    phase: str
    inventory: int
    initial_inventory: int
    participant_count: int = 0
    total_tickets: int = 0
    total_effective_tickets: int = 0
    winner_count: int = 0
    backup_winner_count: int = 0
    registration_start: int
    registration_end: int
    purchase_end: int | None = None
    purchase_window: int
    ticket_pricing: TicketPricing
    lottery_commitment: str
    geo_fence: dict[str, Any] | None = None
    geo_fence_mode: str | None = None
    geo_fence_bonus_multiplier: float = 1.5
    product_name: str = ""
    product_description: str = ""
    image_url: str = ""
    version: int = 0


ParticipantStatus = Literal[
    "registered", "winner", "backup", "purchased", "expired", "lost", "not_registered"
]


class UserState(Wire):
    """A user's status in a drop (the SSE `user` event and `drop.{id}.user.{uid}` payload)."""

    drop_id: str
    user_id: str
    status: ParticipantStatus = "not_registered"
    tickets: int = 0
    effective_tickets: int = 0
    position: int | None = None
    token: str | None = None
    token_expires_at: int | None = None
    deadline: int | None = None
    rollover_used: int = 0
    rollover_balance: int = 0
    rollover_earned: int = 0
    paid_entries: int = 0
    cost: float = 0.0
    backup_position: int | None = None
    promoted: bool = False
    loyalty_tier: str = "bronze"
    loyalty_multiplier: float = 1.0
    geo_bonus: float = 1.0
    in_geo_zone: bool = False
    version: int = 0


class RolloverOut(Wire):
    balance: int


class LoyaltyOut(Wire):
    multiplier: float
    tier: str
    streak: int
    drops_participated: int


class ErrorDetail(Wire):
    path: str
    message: str


class ErrorOut(Wire):
    error: str
    code: str | None = None
    details: list[ErrorDetail] | None = None


class QueueConfig(StrictWire):
    """The waiting room's parameters, sent by the API (from its settings) with every join."""

    rate: float = Field(gt=0, le=100_000, description="admissions per second")
    max_concurrent: int = Field(ge=1, le=100_000)
    ready_window_s: float = Field(gt=0, le=86_400)
    max_age_s: float = Field(gt=0, le=7 * 86_400)
    max_per_fingerprint: int = Field(default=1, ge=1, le=1_000)
    max_per_ip: int = Field(default=3, ge=1, le=1_000)

    @classmethod
    def from_settings(cls, q: QueueSettings) -> QueueConfig:
        return cls(
            rate=q.queue_admission_rate,
            max_concurrent=q.queue_max_concurrent,
            ready_window_s=q.queue_ready_window,
            max_age_s=q.queue_max_age * 60,
            max_per_fingerprint=q.queue_max_per_fingerprint,
            max_per_ip=q.queue_max_per_ip,
        )


class QueueJoinIn(StrictWire):
    fingerprint: str = Field(min_length=1, max_length=200)


class QueueHeartbeatIn(StrictWire):
    token: str = Field(min_length=1, max_length=200)
    behavior_signals: BehaviorSignalsIn | None = None


class RecoverIn(Wire):
    """Proof of a claim on a user id: its claim secret or the recovery code shown once."""

    user_id: Id
    recovery_code: str = Field(min_length=1, max_length=200)
