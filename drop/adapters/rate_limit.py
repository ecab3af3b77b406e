"""Fixed-window rate limits kept in the NATS key-value bucket `rate_limits`.

Each (scope, subject) has one key holding `{"start": ms, "count": n}`. Every change is a
compare-and-set on the key's revision (`create` for a new window, `update(last=rev)` for an
increment or a reset), so concurrent API instances never lose an increment: of 30
simultaneous requests against a limit of 5, exactly 5 are allowed. The window starts at the
first request and lasts `window_s`; the bucket's TTL cleans up idle keys.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

# Compare-and-set rounds before giving up; each lost round means another request won one.
MAX_ATTEMPTS = 100


class RateLimitContention(RuntimeError):
    """The counter could not be updated (too much contention): refuse rather than allow."""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    limit: int
    retry_after_s: int
    # When the counted window began: `release` gives a request back only to that window.
    window_start: int = 0


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RateLimiter:
    kv: KeyValue
    clock: Callable[[], int] = _now_ms

    async def hit(self, scope: str, subject: str, limit: int, window_s: int) -> RateDecision:
        """Count one request of `subject` (e.g. a hashed IP) in `scope`; refuse past `limit`."""
        key = f"{scope}.{subject}"
        window_ms = window_s * 1000
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                if await self._write(key, now, 1, None):
                    return RateDecision(True, 1, limit, 0, now)
                continue
            state = json.loads(entry.value or b"{}")
            start, count = int(state.get("start", 0)), int(state.get("count", 0))
            if now >= start + window_ms or now < start - window_ms:
                if await self._write(key, now, 1, entry.revision):
                    return RateDecision(True, 1, limit, 0, now)
                continue
            if count >= limit:
                retry = max(1, math.ceil((start + window_ms - now) / 1000))
                return RateDecision(False, count, limit, retry, start)
            if await self._write(key, start, count + 1, entry.revision):
                return RateDecision(True, count + 1, limit, 0, start)
        raise RateLimitContention(f"rate counter {key} is too contended")

    async def release(self, scope: str, subject: str, counted: RateDecision) -> None:
        """Give back one request counted by `hit` in the current window (a reservation
        that turned out not to count, e.g. an admin attempt that had the right secret)."""
        key = f"{scope}.{subject}"
        for _ in range(MAX_ATTEMPTS):
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                return
            state = json.loads(entry.value or b"{}")
            start, count = int(state.get("start", 0)), int(state.get("count", 0))
            if start != counted.window_start or count <= 0:
                return
            if await self._write(key, start, count - 1, entry.revision):
                return
        raise RateLimitContention(f"rate counter {key} is too contended")

    async def _write(self, key: str, start: int, count: int, revision: int | None) -> bool:
        value = json.dumps({"start": start, "count": count}).encode()
        try:
            if revision is None:
                await self.kv.create(key, value)
            else:
                await self.kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True
