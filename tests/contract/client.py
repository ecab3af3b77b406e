"""A client of the original services' wire contract (SPEC §9), as their site was written.

Its stream parser ignores `event:` and applies a payload only by its `type`, like the
original client; anything it does not understand makes the test fail rather than pass by.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

USER_STREAM_TYPES = ("connected", "drop", "user")
QUEUE_STREAM_TYPES = ("queue_position", "queue_ready", "queue_expired")
STATUSES = (
    "not_registered",
    "registered",
    "winner",
    "backup_winner",
    "loser",
    "purchased",
    "expired",
)
# The SPEC §5 `user` fields plus `backupsAhead` (SPEC §9).
USER_FIELDS = (
    "status",
    "tickets",
    "effectiveTickets",
    "position",
    "token",
    "rolloverUsed",
    "rolloverBalance",
    "backupPosition",
    "promoted",
    "loyaltyTier",
    "loyaltyMultiplier",
    "serverTime",
    "backupsAhead",
)


@dataclass
class TypedStream:
    """Payloads of one event stream, keyed by their own `type` only."""

    response: httpx.Response
    known: tuple[str, ...]
    payloads: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    problems: list[str] = field(default_factory=list)

    async def pump(self) -> None:
        data: list[str] = []
        with contextlib.suppress(httpx.HTTPError):
            async for line in self.response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif line == "" and data:
                    self._apply("\n".join(data))
                    data = []

    def _apply(self, text: str) -> None:
        payload = json.loads(text)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind not in self.known:
            self.problems.append(f"payload without a known type: {text[:200]}")
            return
        if kind == "user" and payload.get("status") not in STATUSES:
            self.problems.append(f"unknown status {payload.get('status')!r}")
        self.payloads.put_nowait(payload)

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.payloads.get(), timeout)

    async def until(
        self, wanted: Callable[[dict[str, Any]], bool], seen: list[dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        """Read into `seen` until a payload matches `wanted`; returns that payload."""
        async with asyncio.timeout(timeout):
            while True:
                payload = await self.payloads.get()
                seen.append(payload)
                if wanted(payload):
                    return payload


@asynccontextmanager
async def typed_stream(
    base: str, path: str, known: tuple[str, ...], headers: Mapping[str, str] | None = None
) -> AsyncIterator[TypedStream]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", path, headers=dict(headers or {})) as response,
    ):
        assert response.status_code == 200, await response.aread()
        stream = TypedStream(response, known)
        task = asyncio.create_task(stream.pump())
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert stream.problems == []


def user_is(status: str, **more: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda p: (
        p["type"] == "user"
        and p["status"] == status
        and all(p.get(k) == v for k, v in more.items())
    )
