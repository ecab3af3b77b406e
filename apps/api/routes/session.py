"""Sessions: a lost one is recovered by the holder of the user id's claim, and no one else."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from apps.api import guards, identity
from apps.api.deps import NatsBus, State
from drop.contracts import RecoverIn

router = APIRouter(prefix="/api/session")


@router.post("/recover")
async def recover(body: RecoverIn, request: Request, state: State, bus: NatsBus) -> Response:
    """Issue a new session (cookie and `X-Session-Token`) for `userId`, given its claim
    secret or the `recoveryCode` returned when it was claimed; 403 otherwise."""
    await guards.rate_limit(request, state, bus, "recover", state.api.rate_limit_register)
    return await identity.recover(request, state, bus, body.user_id, body.recovery_code)
