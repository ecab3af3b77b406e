"""Claims on user ids in the NATS key-value bucket `user_claims` (no TTL).

A claim is made with `create`, a compare-and-set on "no value yet", so of two first
registrations of one id racing in different drops exactly one becomes its holder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from drop.adapters import kv_read


@dataclass(frozen=True)
class Claim:
    user_id: str
    secret_hash: str
    revision: int


@dataclass
class ClaimStore:
    kv: KeyValue

    async def get(self, user_id: str) -> Claim | None:
        try:
            entry = await kv_read.get(self.kv, user_id)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        saved = json.loads(entry.value)
        return Claim(user_id, str(saved["secretHash"]), int(entry.revision or 0))

    async def create(self, user_id: str, secret_hash: str) -> Claim | None:
        """The new claim, or None when somebody claimed `user_id` first."""
        value = {"secretHash": secret_hash, "claimedAt": int(time.time() * 1000)}
        try:
            revision = await self.kv.create(user_id, json.dumps(value).encode())
        except KeyWrongLastSequenceError:
            return None
        return Claim(user_id, secret_hash, int(revision))

    async def release(self, claim: Claim) -> bool:
        """Delete `claim` unless it changed since it was made; False if it did."""
        try:
            await self.kv.delete(claim.user_id, last=claim.revision)
        except APIError:
            return False
        return True
