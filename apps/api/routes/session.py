"""Sessions: a lost one is recovered by the holder of the user id's claim, and no one else;
a holder lists their live sessions and ends one, all, or the one they are using."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from apps.api import guards, identity, sessions
from apps.api.deps import NatsBus, State
from apps.api.errors import ApiError
from drop.contracts import RecoverIn, SessionOut, SessionsOut, SessionsRevokedOut

router = APIRouter(prefix="/api")

SessionId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a session id from GET /api/sessions")
]


@router.post("/session/recover")
async def recover(body: RecoverIn, request: Request, state: State, bus: NatsBus) -> Response:
    """Issue a new session (cookie and `X-Session-Token`) for `userId`, given its claim
    secret or the `recoveryCode` returned when it was claimed; 403 otherwise. Every earlier
    session of `userId` is revoked."""
    await guards.rate_limit(request, state, bus, "recover", state.api.rate_limit_register)
    return await identity.recover(request, state, bus, body.user_id, body.recovery_code)


@router.post("/session/logout")
async def logout(
    request: Request, response: Response, state: State, bus: NatsBus
) -> SessionsRevokedOut:
    """End the session this request carries (cookie or bearer) and clear its cookie.
    Without a live session nothing is revoked (`revoked: 0`)."""
    found = await sessions.current(request, bus, state.api, state.secrets)
    revoked = 0
    if found is not None:
        async with sessions.store(bus) as store:
            revoked = int(await store.revoke(found.user_id, found.session_id))
    sessions.forget(response, state.api)
    return SessionsRevokedOut(revoked=revoked)


@router.get("/sessions")
async def list_sessions(request: Request, state: State, bus: NatsBus) -> SessionsOut:
    """The live sessions of the caller's user id, oldest first (session required)."""
    found = await sessions.required(request, bus, state.api, state.secrets)
    async with sessions.store(bus) as store:
        live = await store.live(found.user_id)
    listed = [
        SessionOut(
            session_id=s.session_id,
            created_at=s.created_at_ms,
            expires_at=s.expires_at_ms,
            user_agent=s.agent,
            current=s.session_id == found.session_id,
        )
        for s in live
    ]
    return SessionsOut(user_id=found.user_id, sessions=listed)


@router.post("/sessions/{sessionId}/revoke")
async def revoke_session(
    sessionId: SessionId, request: Request, response: Response, state: State, bus: NatsBus
) -> SessionsRevokedOut:
    """End one live session of the caller's user id (session required); 404 when it is
    not one of theirs or already ended."""
    found = await sessions.required(request, bus, state.api, state.secrets)
    async with sessions.store(bus) as store:
        ended = await store.revoke(found.user_id, sessionId)
    if not ended:
        raise ApiError(404, "session_not_found", "no live session of yours has this id")
    if sessionId == found.session_id:
        sessions.forget(response, state.api)
    return SessionsRevokedOut(revoked=1)


@router.post("/sessions/revoke-all")
async def revoke_all_sessions(
    request: Request, response: Response, state: State, bus: NatsBus
) -> SessionsRevokedOut:
    """End every session of the caller's user id, this one included (session required)."""
    found = await sessions.required(request, bus, state.api, state.secrets)
    revoked = await sessions.revoke_all(bus, found.user_id)
    sessions.forget(response, state.api)
    return SessionsRevokedOut(revoked=revoked)
