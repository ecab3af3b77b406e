"""The drops index, mirrored in memory from the NATS key-value bucket the worker writes.

Reads of drop state never touch Restate: they are served from this mirror, kept current by
a KV watch, so reading never waits behind the drop's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from drop import events
from drop.adapters.nats_bus import Bus

log = logging.getLogger("api.snapshots")

ACTIVE_PHASES = ("registration", "purchase")


@dataclass
class DropIndex:
    drops: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def apply(self, state: dict[str, Any]) -> None:
        """Keep the newest version of each drop (events may be applied out of order)."""
        known = self.drops.get(state["dropId"])
        if known is None or int(state.get("version", 0)) >= int(known.get("version", 0)):
            self.drops[state["dropId"]] = state

    def get(self, drop_id: str) -> dict[str, Any] | None:
        return self.drops.get(drop_id)

    def active(self) -> list[dict[str, Any]]:
        live = [d for d in self.drops.values() if d["phase"] in ACTIVE_PHASES]
        return sorted(live, key=deadline)

    def start(self, bus: Bus) -> None:
        self._task = asyncio.create_task(self._watch(bus))

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
                    if entry.value:
                        self.apply(json.loads(entry.value)["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnects are routine; keep watching
                log.warning("drops index watch restarting: %s", exc)
                await asyncio.sleep(0.5)


def deadline(state: dict[str, Any]) -> int:
    if state["phase"] == "registration":
        return int(state["registrationEnd"])
    return int(state.get("purchaseEnd") or state["registrationEnd"])
