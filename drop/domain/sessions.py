"""Which sessions of a user are live: the pure rules behind listing and revoking them.

A user's sessions are kept as one record (drop/adapters/session_store.py). Adding one drops
the expired ones and, past `MAX_SESSIONS`, the oldest: every registration with the claim
secret makes a session, and the record must stay small.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MAX_SESSIONS = 20
SESSION_ID_BYTES = 16
AGENT_MAX_CHARS = 200


@dataclass(frozen=True)
class Session:
    session_id: str
    created_at_ms: int
    expires_at_ms: int
    agent: str = ""


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def short_agent(agent: str) -> str:
    """What is kept of a User-Agent header, to tell one's devices apart in the list."""
    return agent[:AGENT_MAX_CHARS]


def live(sessions: list[Session], now_ms: int) -> list[Session]:
    """The unexpired sessions, oldest first."""
    return sorted((s for s in sessions if s.expires_at_ms > now_ms), key=lambda s: s.created_at_ms)


def with_added(
    sessions: list[Session], added: Session, now_ms: int, limit: int = MAX_SESSIONS
) -> list[Session]:
    """The live sessions plus `added`, keeping the newest `limit`."""
    return live([*sessions, added], now_ms)[-limit:]


def without(sessions: list[Session], session_id: str) -> list[Session]:
    return [s for s in sessions if s.session_id != session_id]
