"""In-memory fan-out: one NATS feed per stream, routed by subject to bounded listeners."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from apps.sse.metrics import FANNED_OUT, SLOW_CLIENTS

T = TypeVar("T")
FANNED_OUT_EVENTS = FANNED_OUT.labels("events")


@dataclass(slots=True, eq=False)
class Item:
    """One event read from JetStream: its stream sequence (the SSE id) and its envelope."""

    seq: int
    subject: str
    type: str
    data: dict[str, Any]
    # Encoded SSE frames, by variant, shared by every listener that sends this item.
    frames: dict[str, bytes] = field(default_factory=dict)

    @property
    def version(self) -> int:
        value = self.data.get("version", 0)
        return value if isinstance(value, int) else 0

    @classmethod
    def parse(cls, seq: int, subject: str, body: bytes | None) -> Item | None:
        """Read an `Event` envelope; None for a body that is not one."""
        try:
            envelope = json.loads(body or b"")
        except ValueError:
            return None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
            return None
        return cls(seq, subject, str(envelope.get("type", "")), envelope["data"])


class Listener(Generic[T]):
    """One client's bounded buffer. Overflow closes it: a stuck reader never holds others up.

    Items wait here until the stream's opening is sent. A stream that can write to its
    socket itself then `attach`es a `deliver` function and is handed each item as it is
    pushed, with no buffer, task or wake-up of its own; otherwise its task `take`s them.
    """

    __slots__ = (
        "_deliver",
        "_items",
        "_waiter",
        "busy",
        "closed",
        "limit",
        "on_close",
        "on_overflow",
        "ping_due",
    )

    def __init__(self, limit: int) -> None:
        self._items: list[T] = []  # a list: an empty deque costs a 64-slot block
        self.limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._deliver: Callable[[list[T]], None] | None = None
        self.closed: str | None = None
        self.on_close: Callable[[], None] | None = None
        self.on_overflow: Callable[[], None] | None = None
        self.busy = False  # an event was sent since the last heartbeat tick
        self.ping_due = False

    def push(self, item: T) -> None:
        if self.closed is not None:
            return
        if self._deliver is not None:
            self._deliver([item])
            return
        if len(self._items) >= self.limit:
            self.overflow()
            return
        self._items.append(item)
        self._wake()

    def attach(self, deliver: Callable[[list[T]], None]) -> None:
        """From now on, hand `deliver` each item when it is pushed, and `[]` when a heartbeat
        is due; what was buffered first."""
        self._deliver = deliver
        if self._items and self.closed is None:
            items, self._items = self._items, []
            deliver(items)

    def overflow(self) -> None:
        """The client fell behind: cut it off."""
        SLOW_CLIENTS.inc()
        self.close("overflow")
        if self.on_overflow is not None:
            self.on_overflow()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self._wake()
            if self.on_close is not None:
                self.on_close()

    def tick(self) -> None:
        """Heartbeat clock: ask for a comment unless the stream sent something since last tick."""
        if self.busy:
            self.busy = False
        elif self._deliver is not None:
            if self.closed is None:
                self._deliver([])
        else:
            self.ping_due = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> list[T] | None:
        """Everything buffered, waiting for at least one item or a heartbeat tick (then `[]`).

        None once closed.
        """
        while not self._items and not self.ping_due and self.closed is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.closed is not None:
            return None
        self.ping_due = False
        self.busy = bool(self._items)
        items = self._items.copy()
        self._items.clear()  # the same list again: a new one per delivery would outlive it
        return items


class Hub:
    """Routes each item to the listeners of its subject; one feed serves every client."""

    def __init__(self) -> None:
        self._routes: dict[str, set[Listener[Item]]] = {}

    def add(self, subjects: Iterable[str], listener: Listener[Item]) -> None:
        for subject in subjects:
            self._routes.setdefault(subject, set()).add(listener)

    def remove(self, subjects: Iterable[str], listener: Listener[Item]) -> None:
        for subject in subjects:
            listeners = self._routes.get(subject)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._routes[subject]

    def dispatch(self, item: Item) -> None:
        listeners = self._routes.get(item.subject)
        if listeners:
            FANNED_OUT_EVENTS.inc(len(listeners))
            # A copy: an overflowing listener may be removed while we iterate.
            for listener in tuple(listeners):
                listener.push(item)

    def close_all(self, reason: str) -> None:
        for listeners in list(self._routes.values()):
            for listener in tuple(listeners):
                listener.close(reason)
