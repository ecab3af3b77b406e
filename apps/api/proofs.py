"""Published proofs, served from memory.

The draw stores its proof once in the NATS object store. The first request for a drop
loads it, renders both answers (with and without the participant list) once, and builds
the Merkle tree's levels once; after that a proof is a memory copy with an `ETag` and
`Cache-Control: immutable` (a published proof never changes), and an inclusion proof is
O(log N) from the stored levels.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from drop import events
from drop.adapters.nats_bus import Bus
from drop.domain import lottery

KEPT = 16  # drops whose proofs stay in memory (the active ones, in practice)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def _render(document: dict[str, Any]) -> Rendered:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class Published:
    """One drop's proof: its two renderings and its tree."""

    def __init__(self, wire: dict[str, Any]) -> None:
        commitment = wire.get("commitment")
        lean = {k: v for k, v in wire.items() if k != "participants"}
        self.lean = _render({"available": True, "proof": lean, "commitment": commitment})
        self.full = _render({"available": True, "proof": wire, "commitment": commitment})
        self.proof = lottery.LotteryProof.from_wire(wire)
        self.index = {p.user_id: i for i, p in enumerate(self.proof.participants)}
        self.tree = lottery.merkle_tree(self.proof.participants)

    def inclusion(self, user_id: str) -> dict[str, Any] | None:
        at = self.index.get(user_id)
        if at is None:
            return None
        return lottery.inclusion_at(self.proof.participants, self.tree, at).to_wire()


class ProofCache:
    def __init__(self) -> None:
        self._kept: OrderedDict[str, Published] = OrderedDict()
        self._loading: dict[str, asyncio.Lock] = {}

    async def get(self, bus: Bus, drop_id: str) -> Published | None:
        """The drop's published proof, loaded once (None when the store has none yet)."""
        if drop_id in self._kept:
            self._kept.move_to_end(drop_id)
            return self._kept[drop_id]
        lock = self._loading.setdefault(drop_id, asyncio.Lock())
        async with lock:
            if drop_id in self._kept:
                return self._kept[drop_id]
            raw = await bus.get_object(events.PROOFS_STORE, drop_id)
            if raw is None:
                return None
            # Parsing and hashing 50,000 leaves takes a while: keep the loop serving.
            published = await asyncio.to_thread(Published, json.loads(raw))
            self._kept[drop_id] = published
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        self._loading.pop(drop_id, None)
        return published
