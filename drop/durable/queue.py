"""What the QueueAdmission object (the waiting room) takes and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from drop.durable.base import Durable


class JoinBatch(Durable):
    # Judged one by one (hex digests), so one malformed join is refused alone.
    joins: list[JsonValue] = Field(default_factory=list)
    config: JsonValue = None


class JoinIn(Durable):
    fingerprint_hash: JsonValue = None
    ip_hash: JsonValue = None
    config: JsonValue = None


class Joined(Durable):
    success: bool
    token: str
    status: str
    position: int
    ahead_of_you: int
    total_in_queue: int
    estimated_wait_seconds: int
    expires_at: int | None


class TickIn(Durable):
    gen: int | None = None


class Stale(Durable):
    stale: Literal[True]


class Ticked(Durable):
    admitted: int
    expired: int
    waiting: int
    ready: int


class SweepIn(Durable):
    batch: int
    at: int


class Swept(Durable):
    expired: int


class TokenView(Durable):
    """What a token's holder may see (no hashes): the exact place in line."""

    token: str
    drop_id: str
    seq: int
    used_by: str | None
    status: str
    position: int
    ahead_of_you: int
    total_in_queue: int
    estimated_wait_seconds: int
    joined_at: int
    ready_at: int | None
    expires_at: int | None
    updated_at: int


class ExpireIn(Durable):
    token: str = ""
    reason: str | None = None


class NotFound(Durable):
    found: Literal[False]


class Found(TokenView):
    found: Literal[True]


class TokenUse(Durable):
    token: str = ""
    user_id: str = ""


class TokenUses(Durable):
    uses: list[TokenUse] = Field(default_factory=list)
    # The caller reads only the refusals (a registration batch): a spent token is answered
    # `{found: true}` instead of its whole view, which both sides would journal. An earlier
    # build's queue ignores it and answers in full, which `Spent` reads as well.
    brief: bool = False


class Spent(Durable):
    """A token spent by this use (or already by the same user): all a brief answer says,
    and what the drop reads of a full `Found` too (its other keys are ignored)."""

    found: Literal[True]


class TokenQuery(Durable):
    token: str = ""


class UnknownToken(Durable):
    found: Literal[False]
    token: str
    drop_id: str


class QueueStats(Durable):
    waiting_count: int
    ready_count: int
    total_issued: int
    total_admitted: int
    total_used: int
    total_expired: int
    admission_loop_active: bool


class LiveQueueStats(QueueStats):
    admission_rate: float
    max_concurrent: int
