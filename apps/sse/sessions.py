"""Who is calling: the user id in the signed session the API issued (cookie or bearer)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from apps.sse import frames
from drop.domain.tokens import verify_session


@dataclass(frozen=True, slots=True)
class SessionCheck:
    secret: str
    ttl_ms: int
    cookie_name: str

    def caller(self, request: Request) -> str | None:
        """The verified user id, or None for no (or a forged, or an expired) session."""
        now = frames.now_ms()
        for token in self._candidates(request):
            user_id = verify_session(self.secret, token, now, self.ttl_ms)
            if user_id is not None:
                return user_id
        return None

    def _candidates(self, request: Request) -> list[str]:
        found = []
        cookie = request.cookies.get(self.cookie_name)
        if cookie:
            found.append(cookie)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            found.append(value.strip())
        return found
