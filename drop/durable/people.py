"""What the per-user objects take and answer: Participant and Settlement (a drawn user's
outcome, token, settling), UserRollover and UserLoyalty."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from drop.contracts import UserState
from drop.durable.base import Durable

Outcome = Literal["winner", "backup_winner", "loser", "expired", "purchased"]


class OutcomeIn(Durable):
    outcome: Outcome
    at_ms: int = 0
    deadline: int | None = None
    promoted: bool = False
    backup_position: int | None = None
    # The size given (winner, backup) on a drop with sizes.
    variant: str | None = None
    # The registration a drawn user's object starts from (sent with the draw's outcomes).
    registered: UserState | None = None


class TokenIssuedIn(Durable):
    token: str
    expires_at: int


class SettleIn(Durable):
    bought: bool = False


class PeopleChunk(Durable):
    """People of a drop to tell or settle: (position, entry row) pairs; in a settle chunk
    each row ends with a flag (0, drawn or bought)."""

    drop_id: str
    people: list[tuple[int, list[JsonValue]]]
    at_ms: int = 0
    chunk: int = 0


# --- UserRollover and UserLoyalty --------------------------------------------------------


class Balance(Durable):
    balance: int


class ConsumeIn(Durable):
    drop_id: str
    wanted: int


class Consumed(Durable):
    used: int
    balance: int


class CreditIn(Durable):
    drop_id: str
    credits: int


class Credited(Durable):
    balance: int
    credited: int


class ParticipationIn(Durable):
    drop_id: str
    at_ms: int
