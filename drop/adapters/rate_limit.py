"""Fixed-window rate limits kept in the NATS key-value bucket `rate_limits`.

Each (scope, subject) has one key holding `{"start": ms, "count": n}`. Every change is a
compare-and-set on the key's revision (`create` for a new window, `update(last=rev)` for an
increment or a reset), so concurrent API instances never lose an increment: of 30
simultaneous requests against a limit of 5, exactly 5 are allowed. The window starts at the
first request and lasts `window_s`; the bucket's TTL cleans up idle keys.

With a `RateMemo`, a limiter remembers what it last wrote to each counter, and its next hit
writes at once on that revision, without reading first: one round trip instead of two
(and the write shares an atomic batch with other guards' writes, drop/adapters/kv_batch.py).
The limit stays exact across replicas: the write is still a compare-and-set, so if any
other process counted in between it fails and the hit falls back to reading the counter.
A refusal is never taken from memory, only from a fresh read.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class _Known:
    start: int
    count: int
    revision: int


@dataclass
class RateMemo:
    """What this process last wrote to each counter (bounded: the oldest go first)."""

    max_entries: int = 100_000
    _known: dict[str, _Known] = field(default_factory=dict)

    def recall(self, key: str) -> _Known | None:
        return self._known.get(key)

    def keep(self, key: str, start: int, count: int, revision: int) -> None:
        self._known.pop(key, None)
        self._known[key] = _Known(start, count, revision)
        while len(self._known) > self.max_entries:
            del self._known[next(iter(self._known))]

    def forget(self, key: str) -> None:
        self._known.pop(key, None)


@dataclass
class RateLimiter:
    kv: KeyValue
    clock: Callable[[], int] = _now_ms
    memo: RateMemo | None = None

    async def hit(self, scope: str, subject: str, limit: int, window_s: int) -> RateDecision:
        """Count one request of `subject` (e.g. a hashed IP) in `scope`; refuse past `limit`."""
        key = f"{scope}.{subject}"
        window_ms = window_s * 1000
        if self.memo is not None:
            counted = await self._hit_unread(key, limit, window_ms)
            if counted is not None:
                return counted
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

    async def _hit_unread(self, key: str, limit: int, window_ms: int) -> RateDecision | None:
        """Count on the remembered revision (a new key: on "nothing yet") without reading;
        None when that write lost (someone else counted) or the counter is full."""
        assert self.memo is not None
        known, now = self.memo.recall(key), self.clock()
        if known is None:
            start, count, revision = now, 1, None
        elif now >= known.start + window_ms or now < known.start - window_ms:
            start, count, revision = now, 1, known.revision
        elif known.count < limit:
            start, count, revision = known.start, known.count + 1, known.revision
        else:
            return None
        if await self._write(key, start, count, revision):
            return RateDecision(True, count, limit, 0, start)
        return None

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
                if self.memo is not None:
                    self.memo.forget(key)
                return
            if await self._write(key, start, count - 1, entry.revision):
                return
        raise RateLimitContention(f"rate counter {key} is too contended")

    async def _write(self, key: str, start: int, count: int, revision: int | None) -> bool:
        value = json.dumps({"start": start, "count": count}).encode()
        try:
            if revision is None:
                written = await self.kv.create(key, value)
            else:
                written = await self.kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            if self.memo is not None:
                self.memo.forget(key)
            return False
        if self.memo is not None:
            self.memo.keep(key, start, count, int(written))
        return True
