"""The latest state of every drop, kept in memory, and the coalesced active-drops feed."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from nats.js.errors import NoKeysError, NotFoundError
from nats.js.kv import KeyValue

from apps.sse import frames
from apps.sse.fanout import Item, Listener
from apps.sse.metrics import FANNED_OUT

FANNED_OUT_LISTS = FANNED_OUT.labels("drops")

log = logging.getLogger(__name__)

ACTIVE_PHASES = ("registration", "purchase")


def _deadline(state: dict[str, Any]) -> float:
    key = "purchaseEnd" if state.get("phase") == "purchase" else "registrationEnd"
    value = state.get(key) or state.get("registrationEnd")
    return float(value) if isinstance(value, int | float) else float("inf")


def state_of(body: bytes | None) -> dict[str, Any] | None:
    """The DropState inside a drops-index value (an `Event` envelope)."""
    try:
        envelope = json.loads(body or b"")
    except ValueError:
        return None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    return data if isinstance(data, dict) else None


def _version(state: dict[str, Any]) -> int:
    value = state.get("version", 0)
    return value if isinstance(value, int) else 0


class Board:
    """Drop states fed by the `drop.*.state` events; `/events/drops` listeners hang off it."""

    def __init__(self, coalesce_seconds: float) -> None:
        self._states: dict[str, dict[str, Any]] = {}
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
        """Keep `state` unless an equal or newer version is known; True when kept."""
        known = self._states.get(drop_id)
        if known is not None and 0 < _version(state) <= _version(known):
            return False
        self._states[drop_id] = state
        return True

    def apply(self, item: Item) -> None:
        parts = item.subject.split(".")
        if len(parts) != 3 or parts[2] != "state":
            return
        if self.remember(parts[1], item.data):
            self.seq = item.seq
            self._schedule()

    def active(self) -> list[dict[str, Any]]:
        drops = [
            {**state, "dropId": drop_id}
            for drop_id, state in self._states.items()
            if state.get("phase") in ACTIVE_PHASES
        ]
        drops.sort(key=_deadline)
        return drops

    def frame(self) -> bytes:
        payload = {"drops": self.active(), "serverTime": frames.now_ms()}
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
