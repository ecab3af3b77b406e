"""A user in a drop: who asks, buying, their status (the SSE `user` event) and loyalty."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, computed_field

from drop.contracts.base import Count, EpochMs, Id, Wire, unsized


class UserIn(Wire):
    user_id: Id


class PurchaseIn(Wire):
    user_id: Id
    purchase_token: str = Field(min_length=1, max_length=1000)


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
    variant: str | None = Field(default=None, exclude_if=unsized)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def backups_ahead(self) -> int | None:
        return backups_ahead(self.status, self.backup_position)


class LoyaltyOut(Wire):
    multiplier: float
    tier: str
    streak: Count
    drops_participated: Count
