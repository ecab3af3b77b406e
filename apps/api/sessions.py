"""Signed user sessions: bound at registration, carried as an HttpOnly cookie or a bearer."""

from __future__ import annotations

import time

from fastapi import Request, Response

from drop.domain import tokens
from drop.settings import ApiSettings, SecretSettings

SESSION_HEADER = "X-Session-Token"


def now_ms() -> int:
    return int(time.time() * 1000)


def issue(response: Response, user_id: str, api: ApiSettings, secrets: SecretSettings) -> str:
    token = tokens.sign_session(secrets.session_secret, user_id, now_ms())
    response.set_cookie(
        api.session_cookie_name,
        token,
        max_age=api.session_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=api.session_cookie_secure,
        path="/",
    )
    response.headers[SESSION_HEADER] = token
    return token


def presented(request: Request, api: ApiSettings) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(api.session_cookie_name)


def session_user(request: Request, api: ApiSettings, secrets: SecretSettings) -> str | None:
    token = presented(request, api)
    if not token:
        return None
    return tokens.verify_session(
        secrets.session_secret, token, now_ms(), api.session_ttl_seconds * 1000
    )
