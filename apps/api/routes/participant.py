"""The original services' per-user status route, which their clients' home pages call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator

from apps.api import user_status
from apps.api.deps import NatsBus, State
from apps.api.errors import refusals
from apps.api.sessions import session_user
from drop.contracts import PARTICIPANT_KEY_PATTERN, UserState, exact_id

router = APIRouter(prefix="/api/participant")


def _both_ids(value: str) -> str:
    drop_id, _, user_id = value.partition(":")
    exact_id(drop_id)
    exact_id(user_id)
    return value


ParticipantKey = Annotated[
    str,
    Path(pattern=PARTICIPANT_KEY_PATTERN, description="`{dropId}:{userId}`"),
    AfterValidator(_both_ids),
]


@router.get("/{participantKey}/status", response_model=UserState, responses=refusals(400, 503))
async def participant_status(
    participantKey: ParticipantKey, request: Request, state: State, bus: NatsBus
) -> dict[str, Any]:
    """The user's status in the drop: what `/api/drop/{dropId}/me/{userId}` answers, read
    from the same published status. As on the event stream, anyone may read the status
    (it drives the original client's "Registered" badge) and only the holder of the
    user's session gets the purchase token."""
    drop_id, _, user_id = participantKey.partition(":")
    status = await user_status.published(bus, drop_id, user_id)
    if await session_user(request, bus, state.api, state.secrets) == user_id:
        return status
    return user_status.without_token(status)
