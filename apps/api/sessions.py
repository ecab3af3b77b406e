"""User sessions: bound at registration, carried as an HttpOnly cookie or a bearer, and
live only while their record in the `user_sessions` bucket says so (so any api or sse
replica refuses a revoked one on its next request)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request, Response

from apps.api.errors import ApiError
from apps.api.guards import fail_closed
from drop import events
from drop.adapters.nats_bus import Bus
from drop.adapters.session_store import SessionStoreContention, UserSessionStore
from drop.domain import sessions as rules
from drop.domain import tokens
from drop.domain.tokens import SessionClaim
from drop.settings import ApiSettings, SecretSettings

SESSION_HEADER = "X-Session-Token"


def now_ms() -> int:
    return int(time.time() * 1000)


@asynccontextmanager
async def store(bus: Bus) -> AsyncIterator[UserSessionStore]:
    """The session store, failing closed (503) when it cannot be read or changed."""
    async with fail_closed("session store"):
        try:
            yield UserSessionStore(await bus.kv(events.USER_SESSIONS_BUCKET))
        except SessionStoreContention as exc:
            raise ApiError(
                503, "sessions_busy", "sessions are busy, try again", {"Retry-After": "1"}
            ) from exc


async def issue(
    request: Request,
    response: Response,
    bus: Bus,
    user_id: str,
    api: ApiSettings,
    secrets: SecretSettings,
    *,
    first: bool = False,
) -> str:
    """Bind a new session to `user_id` (`first`: their claim was just made, so they most
    likely hold no session record yet)."""
    now = now_ms()
    session = rules.Session(
        rules.new_session_id(),
        now,
        now + api.session_ttl_seconds * 1000,
        rules.short_agent(request.headers.get("user-agent", "")),
    )
    async with store(bus) as sessions:
        await sessions.add(user_id, session, first=first)
    token = tokens.sign_session(secrets.session_secret, user_id, now, session.session_id)
    response.set_cookie(
        api.session_cookie_name,
        token,
        max_age=api.session_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=api.cookie_secure,
        path="/",
    )
    response.headers[SESSION_HEADER] = token
    return token


def forget(response: Response, api: ApiSettings) -> None:
    """Clear the session cookie (the session itself is revoked in the store)."""
    response.delete_cookie(
        api.session_cookie_name, path="/", httponly=True, samesite="lax", secure=api.cookie_secure
    )


def presented(request: Request, api: ApiSettings) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(api.session_cookie_name)


async def current(
    request: Request, bus: Bus, api: ApiSettings, secrets: SecretSettings
) -> SessionClaim | None:
    """The caller's session when it is genuine, unexpired and not revoked."""
    token = presented(request, api)
    if not token:
        return None
    found = tokens.verify_session(
        secrets.session_secret, token, now_ms(), api.session_ttl_seconds * 1000
    )
    if found is None:
        return None
    async with store(bus) as sessions:
        live = await sessions.is_live(found.user_id, found.session_id)
    return found if live else None


async def session_user(
    request: Request, bus: Bus, api: ApiSettings, secrets: SecretSettings
) -> str | None:
    found = await current(request, bus, api, secrets)
    return None if found is None else found.user_id


async def required(
    request: Request, bus: Bus, api: ApiSettings, secrets: SecretSettings
) -> SessionClaim:
    """The caller's live session; 401 without one."""
    found = await current(request, bus, api, secrets)
    if found is None:
        raise ApiError(
            401, "session_required", "no live session: register, or recover it with the claim"
        )
    return found


async def revoke_all(bus: Bus, user_id: str) -> int:
    async with store(bus) as sessions:
        return await sessions.revoke_all(user_id)
