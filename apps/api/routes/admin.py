"""Admin console sessions: opened with the admin secret, checked and ended by their token.

The web's console keeps only this token in its cookie; ending it here (sign-out) refuses
the cookie on every web replica at once, since each asks this API on every admin page."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request

from apps.api import admin_auth
from apps.api.deps import Admin, NatsBus
from apps.api.errors import ApiError
from apps.api.guards import fail_closed
from drop import events
from drop.adapters.nats_bus import Bus
from drop.adapters.session_store import AdminSessionStore
from drop.contracts import AdminSessionOut, SessionsRevokedOut

router = APIRouter(prefix="/api/admin")

TOKEN_BYTES = 32


async def _store(bus: Bus) -> AdminSessionStore:
    return AdminSessionStore(await bus.kv(events.ADMIN_SESSIONS_BUCKET))


def _token(request: Request) -> str:
    token = admin_auth.bearer(request)
    if not token:
        raise ApiError(401, "admin_session_required", "send Authorization: Bearer <token>")
    return token


@router.post("/sessions", dependencies=[Admin], status_code=201)
async def open_session(bus: NatsBus) -> AdminSessionOut:
    """Open an 8-hour admin console session (admin secret as the bearer); its `token` is
    shown only here."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with fail_closed("admin session store"):
        expires = await (await _store(bus)).add(token)
    return AdminSessionOut(token=token, expires_at=expires)


@router.get("/session")
async def check_session(request: Request, bus: NatsBus) -> AdminSessionOut:
    """When the session whose token is the bearer expires; 401 once it is revoked or over."""
    token = _token(request)
    async with fail_closed("admin session store"):
        expires = await (await _store(bus)).expires_at(token)
    if expires is None:
        raise ApiError(401, "admin_session_invalid", "this admin session is over or revoked")
    return AdminSessionOut(expires_at=expires)


@router.post("/session/revoke")
async def revoke_session(request: Request, bus: NatsBus) -> SessionsRevokedOut:
    """End the session whose token is the bearer (sign-out), on every replica at once."""
    token = _token(request)
    async with fail_closed("admin session store"):
        store = await _store(bus)
        live = await store.expires_at(token) is not None
        await store.revoke(token)
    return SessionsRevokedOut(revoked=int(live))
