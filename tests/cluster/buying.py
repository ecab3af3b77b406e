"""Winners buying as real clients do: a 5xx (an answer lost to a fault) is retried with the
same Idempotency-Key until a final answer; how long each took and how often it retried is
kept for the figures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

# Longest a winner may take to buy while one NATS node is degraded (docs/cluster.md, A slow
# node).
BUY_BUDGET_S = 10.0


@dataclass
class Buyers:
    client: httpx.AsyncClient
    drop_id: str
    sessions: dict[str, str]
    give_up_s: float = 90.0
    retries: Counter[str] = field(default_factory=Counter)
    took: dict[str, float] = field(default_factory=dict)

    async def _attempt(self, user: str, path: str, body: dict[str, Any]) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.sessions[user]}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        deadline = time.monotonic() + self.give_up_s
        while True:
            try:
                r = await self.client.post(path, json=body, headers=headers)
            except httpx.TimeoutException:
                r = httpx.Response(504)
            if r.status_code < 500 or time.monotonic() > deadline:
                return r
            self.retries[user] += 1
            await asyncio.sleep(0.5)  # retry backoff, not a synchronisation

    async def buy(self, user: str) -> int:
        """Start and complete one purchase; the final status."""
        began = time.monotonic()
        base = f"/api/drop/{self.drop_id}/purchase"
        started = await self._attempt(user, f"{base}/start", {"userId": user})
        if started.status_code != 200:
            return started.status_code
        token = started.json()["purchaseToken"]
        done = await self._attempt(user, base, {"userId": user, "purchaseToken": token})
        if done.status_code == 200:
            self.took[user] = time.monotonic() - began
        return done.status_code

    async def buy_all(self, users: list[str]) -> list[int]:
        return list(await asyncio.gather(*(self.buy(u) for u in users)))

    def figures(self) -> dict[str, Any]:
        return {
            "buy_s": sorted(round(t, 2) for t in self.took.values()),
            "slowest_buy_s": round(max(self.took.values(), default=0.0), 2),
            "purchase_retries": sum(self.retries.values()),
        }
