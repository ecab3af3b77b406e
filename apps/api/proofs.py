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
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from drop import events
from drop.adapters.nats_bus import Bus
from drop.contracts import is_id
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

    def cached(self, drop_id: str) -> Published | None:
        """The proof if this process already holds it (no I/O)."""
        return self._kept.get(drop_id)

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


def _headers(rendered: Rendered) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"etag", rendered.etag.encode()),
        (b"cache-control", b"public, max-age=31536000, immutable"),
    ]


class ServeCached:
    """Published proofs already in memory are answered before routing: at the moment a draw
    lands every page asks for them, and a routed request costs several times a plain one.
    Anything not cached yet (or malformed) goes on to the routes, which load it."""

    def __init__(self, app: ASGIApp, cache: ProofCache) -> None:
        self.app, self.cache = app, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = answer
        headers = [*headers, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        if scope["method"] != "GET":
            return None
        parts = str(scope["path"]).split("/")
        if len(parts) < 5 or parts[1:3] != ["api", "drop"] or not is_id(parts[3]):
            return None
        published = self.cache.cached(parts[3])
        if published is None:
            return None
        if len(parts) == 5 and parts[4] == "lottery-proof":
            query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
            full = query.get("participants", ["false"])[-1].lower() in ("true", "1")
            rendered = published.full if full else published.lean
            if _if_none_match(scope) == rendered.etag.encode():
                return 304, _headers(rendered), b""
            return 200, _headers(rendered), rendered.body
        if len(parts) == 6 and parts[4] == "inclusion-proof" and is_id(parts[5]):
            found = published.inclusion(parts[5])
            document = {"available": True, "proof": found} if found else {"available": False}
            body = json.dumps(document, separators=(",", ":")).encode()
            return 200, [(b"content-type", b"application/json")], body
        return None


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == b"if-none-match":
            return bytes(value)
    return None
