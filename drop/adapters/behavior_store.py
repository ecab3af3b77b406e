"""Behaviour scores reported by queue heartbeats, kept per (drop, token) for the trust
decision at registration (bucket `queue_behavior`, TTL 15 min)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue


@dataclass
class BehaviorStore:
    kv: KeyValue

    async def save(self, drop_id: str, token: str, score: float, signals: dict[str, Any]) -> None:
        value = {"score": score, "signals": signals}
        await self.kv.put(f"{drop_id}.{token}", json.dumps(value).encode())

    async def score(self, drop_id: str, token: str) -> float | None:
        try:
            entry = await self.kv.get(f"{drop_id}.{token}")
        except KeyNotFoundError:
            return None
        saved = json.loads(entry.value or b"{}")
        score = saved.get("score")
        return float(score) if isinstance(score, int | float) else None
