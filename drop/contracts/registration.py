"""Registering for a drop: the request (bot checks, behaviour signals, location, ranked
sizes, email), the entry the API hands the durable layer, and the answer."""

from __future__ import annotations

from typing import Annotated, Any

import email_validator
from pydantic import AfterValidator, Field, StringConstraints

from drop.contracts.base import DAY_MS, Count, Id, Wire, unsized
from drop.domain.lottery.allocation import MAX_VARIANTS


class LatLngIn(Wire):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


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
    Field(default=None, min_length=1, max_length=MAX_VARIANTS, exclude_if=unsized),
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
