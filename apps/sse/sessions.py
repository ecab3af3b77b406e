"""Who is calling: the user id of a live session the API issued (cookie or bearer).

The token's signature and age are checked here; whether the session was revoked is read
from the `user_sessions` bucket every api and sse replica shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats.errors
from starlette.requests import Request

from apps.sse import frames
from drop.adapters.session_store import UserSessionStore
from drop.domain.tokens import verify_session

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionCheck:
    secret: str
    ttl_ms: int
    cookie_name: str

    async def caller(self, request: Request, store: UserSessionStore) -> str | None:
        """The verified user id, or None for no (or a forged, expired or revoked) session."""
        now = frames.now_ms()
        for token in self._candidates(request):
            found = verify_session(self.secret, token, now, self.ttl_ms)
            if found is not None and await self._live(store, found.user_id, found.session_id):
                return found.user_id
        return None

    async def _live(self, store: UserSessionStore, user_id: str, session_id: str) -> bool:
        try:
            return await store.is_live(user_id, session_id)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            # Without the record the stream still opens, just without the purchase token.
            log.warning("session store unavailable, treating the session as absent: %r", exc)
            return False

    def _candidates(self, request: Request) -> list[str]:
        found = []
        cookie = request.cookies.get(self.cookie_name)
        if cookie:
            found.append(cookie)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            found.append(value.strip())
        return found
