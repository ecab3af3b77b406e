"""The latest state of every drop, kept in memory, and the coalesced active-drops feed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.js.errors import NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from apps.sse import frames
from apps.sse.fanout import Item, Listener
from apps.sse.metrics import FANNED_OUT
from drop.drops_index import DropStates, state_of

FANNED_OUT_LISTS = FANNED_OUT.labels("drops")

log = logging.getLogger(__name__)


class Board:
    """Drop states fed by the `drop.*.state` events; `/events/drops` listeners hang off it."""

    def __init__(self, coalesce_seconds: float) -> None:
        self._states = DropStates()
        self._coalesce = coalesce_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._last_flush = float("-inf")
        self.listeners: set[Listener[bytes]] = set()
        self.seq = 0

    def state(self, drop_id: str) -> dict[str, Any] | None:
        return self._states.get(drop_id)

    async def load(self, kv: KeyValue) -> None:
        """Fill from the drops index (at start, before following the stream)."""
        try:
            keys = await kv.keys()
        except NoKeysError:
            return
        for key in keys:
            try:
                entry = await kv.get(key)
            except NotFoundError:
                continue
            state = state_of(entry.value)
            if state is not None:
                self.remember(key, state)

    def remember(self, drop_id: str, state: dict[str, Any]) -> bool:
        """Keep `state` if it is newer than the one known; True when kept."""
        return self._states.remember(drop_id, state)

    def apply(self, item: Item) -> None:
        parts = item.subject.split(".")
        if len(parts) != 3 or parts[2] != "state":
            return
        if self.remember(parts[1], item.data):
            self.seq = item.seq
            self._schedule()

    def frame(self) -> bytes:
        payload = {"drops": self._states.active(), "serverTime": frames.now_ms()}
        return frames.frame("drops", payload, self.seq)

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_flush + self._coalesce - loop.time())
        self._timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        self._last_flush = asyncio.get_running_loop().time()
        if not self.listeners:
            return
        chunk = self.frame()
        FANNED_OUT_LISTS.inc(len(self.listeners))
        for listener in tuple(self.listeners):
            listener.push(chunk)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for listener in tuple(self.listeners):
            listener.close("shutdown")
