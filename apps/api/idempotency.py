"""`Idempotency-Key`: a retried mutating call returns the first answer and changes nothing.

The first answer is kept in the NATS key-value bucket `idempotency` (24 h); the key is also
passed to Restate, so two copies in flight at once still run the durable step only once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from nats.js.errors import KeyNotFoundError

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
    if key is None:
        return None
    kv = await bus.kv(events.IDEMPOTENCY_BUCKET)
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    saved = json.loads(entry.value)
    response = JSONResponse(saved["body"], status_code=saved["status"])
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def remember(bus: Bus, key: str | None, status: int, body: Any) -> None:
    if key is None:
        return
    kv = await bus.kv(events.IDEMPOTENCY_BUCKET)
    await kv.put(key, json.dumps({"status": status, "body": body}).encode())
