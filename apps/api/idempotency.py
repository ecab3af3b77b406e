"""`Idempotency-Key`: a retried mutating call returns the first answer and changes nothing.

The first answer is kept in the NATS key-value bucket `idempotency` (24 h); the key is also
passed to Restate, so two copies in flight at once still run the durable step only once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from drop import events
from drop.adapters.nats_bus import Bus

HEADER = "idempotency-key"


def scoped_key(request: Request, scope: str) -> str | None:
    raw = request.headers.get(HEADER)
    if not raw:
        return None
    digest = hashlib.sha256(f"{scope}\x00{raw}".encode()).hexdigest()
    return f"k{digest[:48]}"


async def replay(bus: Bus, key: str | None) -> JSONResponse | None:
    saved = None if key is None else await bus.get_json(events.IDEMPOTENCY_BUCKET, key)
    if saved is None:
        return None
    response = JSONResponse(saved["body"], status_code=saved["status"])
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def once(bus: Bus, key: str | None, call: Callable[[], Awaitable[Any]]) -> Any:
    """The first answer for `key` if there was one, else `call()`'s, remembered."""
    replayed = await replay(bus, key)
    if replayed is not None:
        return replayed
    answer = await call()
    await remember(bus, key, 200, answer)
    return answer


async def remember(bus: Bus, key: str | None, status: int, body: Any) -> None:
    if key is None:
        return
    kv = await bus.kv(events.IDEMPOTENCY_BUCKET)
    await kv.put(key, json.dumps({"status": status, "body": body}).encode())
