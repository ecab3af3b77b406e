"""Spent proof-of-work challenges in the NATS key-value bucket `pow_challenges` (TTL 5 min).

A signed challenge (drop/domain/pow.py) is spent by creating its key: the create succeeds
once, whichever replica tries first, and the key outlives the challenge's validity (the
bucket's TTL is the challenge's life, counted from the spend rather than the issue).

Challenges issued by the build before signed ones were stored here at issue and are spent
with a get followed by a compare-and-set delete on the revision read; they are accepted
for their remaining life after a deploy (see docs/security.md, Proof-of-work).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from drop.adapters import kv_read

# What a spent signed challenge's key holds: JSON without a "challenge", so a replica of
# the previous build reading it takes the challenge for one it never issued.
SPENT = b'{"spent":true}'


@dataclass(frozen=True)
class StoredChallenge:
    """A challenge the previous build issued and stored."""

    challenge: str
    difficulty: int
    revision: int


def _key(challenge: str) -> str:
    return hashlib.sha256(challenge.encode()).hexdigest()


@dataclass
class PowStore:
    kv: KeyValue

    async def mark_spent(self, challenge: str) -> bool:
        """Record a signed challenge as spent; False when it already was."""
        try:
            await self.kv.create(_key(challenge), SPENT)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def find_stored(self, challenge: str) -> StoredChallenge | str:
        """A previous build's stored challenge, or why not: "spent" (deleted) or "unknown"."""
        try:
            entry = await kv_read.get(self.kv, _key(challenge))
        except KeyNotFoundError as exc:
            return "spent" if getattr(exc, "op", None) in (KV_DEL, KV_PURGE) else "unknown"
        saved = json.loads(entry.value or b"{}")
        if saved.get("challenge") != challenge:
            return "unknown"
        return StoredChallenge(challenge, int(saved["difficulty"]), int(entry.revision or 0))

    async def spend_stored(self, stored: StoredChallenge) -> bool:
        """Delete the stored challenge if nobody spent it since it was read; False if
        someone did."""
        try:
            await self.kv.delete(_key(stored.challenge), last=stored.revision)
        except APIError:
            return False
        return True
