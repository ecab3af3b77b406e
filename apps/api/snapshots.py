"""The drops index, mirrored in memory from the NATS key-value bucket the worker writes.

Reads of drop state never touch Restate: they are served from this mirror, kept current by
a KV watch, so reading never waits behind the drop's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from drop import events
from drop.adapters.nats_bus import Bus
from drop.drops_index import DropStates, state_of

log = logging.getLogger("api.snapshots")


@dataclass
class DropIndex:
    states: DropStates = field(default_factory=DropStates)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _bus: Bus | None = None

    def apply(self, state: dict[str, Any]) -> None:
        """Keep the newest version of each drop (events may be applied out of order)."""
        self.states.remember(state["dropId"], state)

    def get(self, drop_id: str) -> dict[str, Any] | None:
        return self.states.get(drop_id)

    def active(self) -> list[dict[str, Any]]:
        return self.states.active()

    def start(self, bus: Bus) -> None:
        self._bus = bus
        self._task = asyncio.create_task(self._watch(bus))

    def resume(self) -> None:
        """Watch again after a reconnection. A restarted nats-server keeps the bucket but not
        the watch's ephemeral consumer, and nats-py then waits on it forever without an
        error, so the index would stop moving. A new watch replays every drop's newest
        state, and `apply` keeps the newest version of each."""
        if self._bus is not None and self._task is not None:
            self._task.cancel()
            self._task = asyncio.create_task(self._watch(self._bus))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self, bus: Bus) -> None:
        while True:
            try:
                kv = await bus.kv(events.DROPS_INDEX_BUCKET)
                watcher = await kv.watchall()
                async for entry in watcher:
                    if entry is None:  # initial values delivered
                        self.ready.set()
                        continue
                    state = state_of(entry.value)
                    if state is not None:
                        self.apply(state)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnects are routine; keep watching
                log.warning("drops index watch restarting: %s", exc)
                await asyncio.sleep(0.5)
