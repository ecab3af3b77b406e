"""A short-lived, single-flight cache for the data behind first paints.

Under load many visitors open the same page at once: they share one API call per path
(single flight), and its answer serves them for `ttl` seconds. Failures are not kept, so
the next visitor retries. Pages then go live over the event stream, which corrects any
staleness within a moment of loading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MAX_ENTRIES = 2048


@dataclass
class _Entry:
    started: float
    task: asyncio.Future[Any]


class PageCache:
    def __init__(self, fetch: Callable[[str], Awaitable[Any]], ttl: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._entries: dict[str, _Entry] = {}

    async def get(self, path: str) -> tuple[Any, float]:
        """The answer for `path` and its age in seconds."""
        if self._ttl <= 0:
            return await self._fetch(path), 0.0
        now = time.monotonic()
        entry = self._entries.get(path)
        if entry is None or now - entry.started > self._ttl or _failed(entry.task):
            self._evict(now)
            entry = _Entry(now, asyncio.ensure_future(self._fetch(path)))
            self._entries[path] = entry
        # shield: one visitor going away must not cancel the fetch the others wait for.
        data = await asyncio.shield(entry.task)
        return data, time.monotonic() - entry.started

    def _evict(self, now: float) -> None:
        if len(self._entries) < MAX_ENTRIES:
            return
        for key in [k for k, e in self._entries.items() if now - e.started > self._ttl]:
            del self._entries[key]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()


def _failed(task: asyncio.Future[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
