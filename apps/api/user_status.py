"""A user's status in a drop, as last published: read from the stream, never a durable call."""

from __future__ import annotations

from typing import Any

from apps.api.guards import fail_closed
from drop import events
from drop.adapters.nats_bus import Bus
from drop.contracts import UserState

# Only the holder of the user's session may see their purchase token (docs/contract.md, Purchase).
TOKEN_FIELDS = ("token", "tokenExpiresAt")


async def published(bus: Bus, drop_id: str, user_id: str) -> dict[str, Any]:
    """The user's last published status (`not_registered` when there is none)."""
    subject = events.drop_user_subject(drop_id, user_id)
    async with fail_closed("status store"):
        envelope = await bus.last_on_subject(events.DROPS_STREAM, subject)
    if isinstance(envelope, dict) and isinstance(envelope.get("data"), dict):
        found: dict[str, Any] = envelope["data"]
        return found
    return UserState(drop_id=drop_id, user_id=user_id).wire()


def without_token(status: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in TOKEN_FIELDS else v) for k, v in status.items()}
