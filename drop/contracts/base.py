"""The ground every wire model stands on: the `Wire` base (camelCase on the wire,
snake_case in code), ids matched whole, bounded numbers, and the error answer."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

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


def unsized(value: object) -> bool:
    return value is None


class ErrorDetail(Wire):
    path: str
    message: str


class ErrorOut(Wire):
    error: str
    code: str | None = None
    details: list[ErrorDetail] | None = None
