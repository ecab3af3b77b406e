"""Live sessions in NATS key-value buckets: what every api and sse replica checks.

`user_sessions` (no TTL) holds one record per user id, `{"sessions": [...]}`, changed only
by compare-and-set on its revision, so a revocation is never lost to a concurrent sign-in.
A session token (signed) names its record entry; a token whose entry is gone is refused
on the next request, by any replica.

`admin_sessions` (8-hour TTL) holds one key per signed-in admin console: the SHA-256 of
the cookie's random token, so the bucket never holds a usable cookie.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from drop.domain import sessions as rules
from drop.domain.sessions import Session

ADMIN_SESSION_SECONDS = 8 * 3600
# Compare-and-set rounds before giving up; each lost round means another change won one.
MAX_ATTEMPTS = 50


class SessionStoreContention(RuntimeError):
    """A user's session record kept changing under us: refuse rather than guess."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _decode(raw: bytes | None) -> list[Session]:
    if not raw:
        return []
    return [Session(**item) for item in json.loads(raw).get("sessions", [])]


def _encode(sessions: list[Session]) -> bytes:
    return json.dumps({"sessions": [asdict(s) for s in sessions]}).encode()


@dataclass
class UserSessionStore:
    kv: KeyValue
    clock: Callable[[], int] = _now_ms

    async def _read(self, user_id: str) -> tuple[list[Session], int | None]:
        try:
            entry = await self.kv.get(user_id)
        except KeyNotFoundError:
            return [], None
        return _decode(entry.value), entry.revision

    async def live(self, user_id: str) -> list[Session]:
        """The user's live sessions, oldest first."""
        found, _ = await self._read(user_id)
        return rules.live(found, self.clock())

    async def is_live(self, user_id: str, session_id: str) -> bool:
        return any(s.session_id == session_id for s in await self.live(user_id))

    async def add(self, user_id: str, session: Session, *, first: bool = False) -> None:
        """Add a live session. `first` says the user most likely has no record yet (their
        claim was just made): it is then created without reading first, one round trip
        instead of two, still a compare-and-set on "no record yet"."""
        if first:
            try:
                await self.kv.create(user_id, _encode(rules.with_added([], session, self.clock())))
            except KeyWrongLastSequenceError:
                pass  # there was a record after all: added to below
            else:
                return
        await self._change(user_id, lambda found: rules.with_added(found, session, self.clock()))

    async def revoke(self, user_id: str, session_id: str) -> bool:
        """End one session; False when it was not live."""
        return bool(await self._change(user_id, lambda found: rules.without(found, session_id)))

    async def revoke_all(self, user_id: str) -> int:
        """End every session of the user; how many were live."""
        return await self._change(user_id, lambda found: [])

    async def _change(self, user_id: str, change: Callable[[list[Session]], list[Session]]) -> int:
        """Apply `change` to the live sessions; how many it removed."""
        for _ in range(MAX_ATTEMPTS):
            stored, revision = await self._read(user_id)
            before = rules.live(stored, self.clock())
            after = change(before)
            if after == before:
                return 0
            try:
                if revision is None:
                    await self.kv.create(user_id, _encode(after))
                else:
                    await self.kv.update(user_id, _encode(after), last=revision)
            except KeyWrongLastSequenceError:
                continue
            kept = {s.session_id for s in after}
            return sum(1 for s in before if s.session_id not in kept)
        raise SessionStoreContention(f"the sessions of {user_id} are too contended")


def admin_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class AdminSessionStore:
    kv: KeyValue
    clock: Callable[[], int] = _now_ms

    async def add(self, token: str) -> int:
        """Record a new admin session; when it expires (ms since the epoch)."""
        now = self.clock()
        expires = now + ADMIN_SESSION_SECONDS * 1000
        value = {"createdAt": now, "expiresAt": expires}
        await self.kv.put(admin_key(token), json.dumps(value).encode())
        return expires

    async def expires_at(self, token: str) -> int | None:
        """When a live admin session expires; None for an unknown, revoked or expired one."""
        try:
            entry = await self.kv.get(admin_key(token))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        expires = int(json.loads(entry.value)["expiresAt"])
        return expires if expires > self.clock() else None

    async def revoke(self, token: str) -> None:
        await self.kv.delete(admin_key(token))
