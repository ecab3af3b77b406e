"""Wire models shared by api, sse, web and worker: camelCase on the wire, snake_case in code."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal, get_args

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from drop.domain import geo
from drop.domain.errors import DomainError
from drop.domain.lottery.allocation import MAX_VARIANTS, Variant, variant_problems
from drop.settings import QueueSettings

# --- ids: one rule, matched whole ----------------------------------------------------

_ID_CHARS = r"[A-Za-z0-9_-]{1,100}"
_ID_RE = re.compile(_ID_CHARS)
# For OpenAPI and pydantic's regex engine, where `$` is the end of the text. Python's
# `re.match` lets a trailing newline past `$`: code checks ids with `is_id` instead.
ID_PATTERN = rf"^{_ID_CHARS}$"
# `{dropId}:{userId}`, the original services' key of a participant.
PARTICIPANT_KEY_PATTERN = rf"^{_ID_CHARS}:{_ID_CHARS}$"


def is_id(value: str) -> bool:
    """True when `value` is a whole id: 1..100 of A-Z a-z 0-9 _ - and nothing else."""
    return _ID_RE.fullmatch(value) is not None


def exact_id(value: str) -> str:
    if not is_id(value):
        raise ValueError("must be 1-100 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN), AfterValidator(exact_id)]

# --- numbers: every one bounded ------------------------------------------------------

# Answers are read by browsers: past 2**53 a JSON number loses precision in JavaScript.
JSON_SAFE_INT = 2**53 - 1
MAX_COUNT = 1_000_000
DAY_MS = 86_400_000
# Timestamps a caller sends must be within ten years of the clock at validation time: far
# enough for any real schedule, near enough that date arithmetic can never overflow.
TEN_YEARS_MS = 10 * 366 * DAY_MS
MAX_GEO_VERTICES = 1_000


def _near_now(value: int) -> int:
    now = int(time.time() * 1000)
    if abs(value - now) > TEN_YEARS_MS:
        raise ValueError("must be epoch milliseconds within 10 years of now")
    return value


EpochMsIn = Annotated[
    int,
    Field(
        ge=0,
        le=JSON_SAFE_INT,
        description="epoch milliseconds, within 10 years of the server's clock "
        "(x-within-ms-of-now); anything further is a 400",
        json_schema_extra={"x-within-ms-of-now": TEN_YEARS_MS},
    ),
    AfterValidator(_near_now),
]
EpochMs = Annotated[int, Field(ge=0, le=JSON_SAFE_INT)]
Count = Annotated[int, Field(ge=0, le=JSON_SAFE_INT)]


class Wire(BaseModel):
    """Unknown fields are ignored, never refused (docs/contract.md, Conventions): clients
    may send more."""

    # No NaN or infinity anywhere: they are not JSON and break every comparison.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class LatLngIn(Wire):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class VariantIn(Wire):
    """One size of a drop (issue 23): an id like any other, a label, its own stock."""

    id: Id
    label: str = Field(default="", max_length=100)
    inventory: int = Field(ge=1, le=10_000)


def _unsized(value: object) -> bool:
    return value is None


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
        default=None, min_length=1, max_length=MAX_VARIANTS, exclude_if=_unsized
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
        ranges), so a bad fence is a 400 here rather than a failure inside the durable layer."""
        if value is None:
            return None
        vertices = value.get("vertices")
        if isinstance(vertices, list) and len(vertices) > MAX_GEO_VERTICES:
            raise ValueError(f"a polygon has at most {MAX_GEO_VERTICES} vertices")
        name = value.get("name")
        if isinstance(name, str) and len(name) > 200:
            raise ValueError("a fence name has at most 200 characters")
        try:
            geo.fence_from_wire(value)
        except DomainError as exc:
            raise ValueError(exc.message) from None
        return value


class BotValidation(Wire):
    fingerprint: str = Field(min_length=1, max_length=200)
    fingerprint_confidence: float = Field(
        ge=0, le=100, description="0-100 (docs/contract.md, Registration); 90 means 90 % sure"
    )
    timing_ms: int = Field(ge=0, le=DAY_MS)
    pow_solution: str = Field(min_length=1, max_length=64)
    pow_challenge: str = Field(min_length=1, max_length=100)


MAX_SIGNAL_COUNT = 1_000_000
MAX_TIME_ON_PAGE_MS = 86_400_000
MAX_INTERACTION_PATTERNS = 8_192
SignalCount = Annotated[int, Field(ge=0, le=MAX_SIGNAL_COUNT)]


class BehaviorSignalsIn(Wire):
    """What a browser observed before registering (names in docs/contract.md, Registration)."""

    mouse_movements: SignalCount = 0
    scroll_events: SignalCount = 0
    key_presses: SignalCount = 0
    focus_blur_events: SignalCount = 0
    visibility_changes: SignalCount = 0
    time_on_page: int = Field(default=0, ge=0, le=MAX_TIME_ON_PAGE_MS, description="ms")
    interaction_patterns: str = Field(
        default="",
        max_length=MAX_INTERACTION_PATTERNS,
        description="JSON-encoded; arrays of numbers in it are read as ms between interactions",
    )


def _ranked_once(value: list[str] | None) -> list[str] | None:
    if value is not None:
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            raise ValueError(f"variants ranked more than once: {', '.join(twice)}")
    return value


# A ranked list of variant ids, best first (issue 23): at least one, none twice.
Ranking = Annotated[
    list[Id] | None,
    Field(default=None, min_length=1, max_length=MAX_VARIANTS, exclude_if=_unsized),
    AfterValidator(_ranked_once),
]


def _email_address(value: str) -> str:
    """A deliverable-looking address, normalised; the refusal never repeats the input
    (addresses stay out of logs and answers alike)."""
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ValueError("must be an email address like name@example.com") from None
    return str(checked.normalized)


EmailAddress = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email_address)]


class RegisterIn(Wire):
    user_id: Id
    tickets: int = Field(ge=1, le=100)
    # Optional: used only to tell this person the outcome by mail (kept outside the drop).
    email: EmailAddress | None = Field(default=None, repr=False)
    bot_validation: BotValidation | None = None
    queue_token: str | None = Field(default=None, max_length=200)
    behavior_signals: BehaviorSignalsIn | None = None
    location: LatLngIn | None = None
    variants: Ranking = None


class EntryIn(Wire):
    """One entry of a registration batch, as the API hands it to the durable layer."""

    user_id: Id
    tickets: int = Field(ge=1, le=100)
    location: dict[str, Any] | None = None
    queue_token: str | None = Field(default=None, max_length=200)
    variants: Ranking = None


class RegisterOut(Wire):
    success: bool = True
    participant_count: Count
    total_tickets: Count
    user_tickets: Count
    effective_tickets: Count
    position: Count
    rollover_used: Count
    paid_entries: Count
    cost: float
    loyalty_tier: str
    loyalty_multiplier: float
    geo_bonus: float
    in_geo_zone: bool


class UserIn(Wire):
    user_id: Id


class PurchaseIn(Wire):
    user_id: Id
    purchase_token: str = Field(min_length=1, max_length=1000)


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
    variants: list[VariantLeft] | None = Field(default=None, exclude_if=_unsized)


# The only user status values, on streams and in every response (docs/contract.md, Purchase).
ParticipantStatus = Literal[
    "not_registered", "registered", "winner", "backup_winner", "loser", "purchased", "expired"
]
PARTICIPANT_STATUSES: tuple[ParticipantStatus, ...] = get_args(ParticipantStatus)


def backups_ahead(status: object, backup_position: object) -> int | None:
    """Backups drawn ahead of this one (`backupsAhead`, docs/contract.md, Purchase); None
    unless a backup winner.

    Counted from the draw order: promotions of those ahead are not subtracted.
    """
    if status != "backup_winner" or not isinstance(backup_position, int):
        return None
    return max(0, backup_position - 1)


class UserState(Wire):
    """A user's status in a drop (the SSE `user` event and `drop.{id}.user.{uid}` payload)."""

    drop_id: str
    user_id: str
    status: ParticipantStatus = "not_registered"
    tickets: Count = 0
    effective_tickets: Count = 0
    position: Count | None = None
    token: str | None = None
    token_expires_at: EpochMs | None = None
    deadline: EpochMs | None = None
    rollover_used: Count = 0
    rollover_balance: Count = 0
    rollover_earned: Count = 0
    paid_entries: Count = 0
    cost: float = 0.0
    backup_position: Count | None = None
    promoted: bool = False
    loyalty_tier: str = "bronze"
    loyalty_multiplier: float = 1.0
    geo_bonus: float = 1.0
    in_geo_zone: bool = False
    version: Count = 0
    # The size given to a winner or backup of a drop with sizes; absent otherwise.
    variant: str | None = Field(default=None, exclude_if=_unsized)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def backups_ahead(self) -> int | None:
        return backups_ahead(self.status, self.backup_position)


class LoyaltyOut(Wire):
    multiplier: float
    tier: str
    streak: Count
    drops_participated: Count


class ErrorDetail(Wire):
    path: str
    message: str


class ErrorOut(Wire):
    error: str
    code: str | None = None
    details: list[ErrorDetail] | None = None


class QueueConfig(Wire):
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


class QueueJoinIn(Wire):
    fingerprint: str = Field(min_length=1, max_length=200)


class QueueHeartbeatIn(Wire):
    token: str = Field(min_length=1, max_length=200)
    behavior_signals: BehaviorSignalsIn | None = None


class RecoverIn(Wire):
    """Proof of a claim on a user id: its claim secret or the recovery code shown once."""

    user_id: Id
    recovery_code: str = Field(min_length=1, max_length=200)


class SessionOut(Wire):
    """One live session of the caller's user id."""

    session_id: str
    created_at: int = Field(description="ms since the epoch")
    expires_at: int = Field(description="ms since the epoch")
    user_agent: str = Field(description="the User-Agent that signed in (first 200 characters)")
    current: bool = Field(description="the session this request was made with")


class SessionsOut(Wire):
    user_id: str
    sessions: list[SessionOut]


class SessionsRevokedOut(Wire):
    success: bool = True
    revoked: int = Field(description="how many live sessions this ended")


class AdminSessionOut(Wire):
    """An admin console session: its bearer token (shown once) and when it expires."""

    token: str | None = None
    expires_at: int = Field(description="ms since the epoch")
