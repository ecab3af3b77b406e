"""Issued proof-of-work challenges in the NATS key-value bucket `pow_challenges` (TTL 5 min).

A challenge is spent with a get followed by a compare-and-set delete on the revision read,
so two requests replaying one challenge at the same moment cannot both spend it.

`IssuedHere` remembers the challenges this process issued, with their revisions: spending
one of them skips the get (the delete on the issued revision succeeds only if nobody spent
it since, whichever process tried first).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from nats.js.errors import APIError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from drop.adapters import kv_read


@dataclass(frozen=True)
class IssuedChallenge:
    challenge: str
    difficulty: int
    issued_at: int
    revision: int


def _key(challenge: str) -> str:
    return hashlib.sha256(challenge.encode()).hexdigest()


@dataclass
class PowStore:
    kv: KeyValue

    async def issue(self, challenge: str, difficulty: int, issued_at: int) -> IssuedChallenge:
        value = {"challenge": challenge, "difficulty": difficulty, "issuedAt": issued_at}
        revision = await self.kv.create(_key(challenge), json.dumps(value).encode())
        return IssuedChallenge(challenge, difficulty, issued_at, int(revision))

    async def find(self, challenge: str) -> IssuedChallenge | str:
        """The issued challenge, or why not: "spent" (deleted) or "unknown"."""
        try:
            entry = await kv_read.get(self.kv, _key(challenge))
        except KeyNotFoundError as exc:
            return "spent" if getattr(exc, "op", None) in (KV_DEL, KV_PURGE) else "unknown"
        saved = json.loads(entry.value or b"{}")
        if saved.get("challenge") != challenge:
            return "unknown"
        return IssuedChallenge(
            challenge, int(saved["difficulty"]), int(saved["issuedAt"]), int(entry.revision or 0)
        )

    async def spend(self, issued: IssuedChallenge) -> bool:
        """Delete the challenge if nobody spent it since it was read; False if someone did."""
        try:
            await self.kv.delete(_key(issued.challenge), last=issued.revision)
        except APIError:
            return False
        return True


@dataclass
class IssuedHere:
    """Challenges issued by this process and not yet taken, for their lifetime at most
    (bounded: the oldest go first)."""

    ttl_ms: int
    max_entries: int = 50_000
    _issued: dict[str, IssuedChallenge] = field(default_factory=dict)

    def keep(self, issued: IssuedChallenge) -> None:
        self._issued[issued.challenge] = issued
        while self._issued:
            challenge, oldest = next(iter(self._issued.items()))
            fresh = oldest.issued_at + self.ttl_ms > issued.issued_at
            if fresh and len(self._issued) <= self.max_entries:
                break
            del self._issued[challenge]

    def take(self, challenge: str) -> IssuedChallenge | None:
        return self._issued.pop(challenge, None)
