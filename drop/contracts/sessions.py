"""Sessions on the wire: recovering a user id, a user's live sessions, the admin's."""

from __future__ import annotations

from pydantic import Field

from drop.contracts.base import Id, Wire


class RecoverIn(Wire):
    """Proof of a claim on a user id: its claim secret or the recovery code shown once."""

    user_id: Id
    recovery_code: str = Field(min_length=1, max_length=200)


class SessionOut(Wire):
    """One live session of the caller's user id."""

    session_id: str
    created_at: int = Field(description="ms since the epoch")
    expires_at: int = Field(description="ms since the epoch")
    user_agent: str = Field(description="the User-Agent that signed in (first 200 characters)")
    current: bool = Field(description="the session this request was made with")


class SessionsOut(Wire):
    user_id: str
    sessions: list[SessionOut]


class SessionsRevokedOut(Wire):
    success: bool = True
    revoked: int = Field(description="how many live sessions this ended")


class AdminSessionOut(Wire):
    """An admin console session: its bearer token (shown once) and when it expires."""

    token: str | None = None
    expires_at: int = Field(description="ms since the epoch")
