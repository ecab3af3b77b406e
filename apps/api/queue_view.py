"""The waiting room as the API reads it: from the mirror the queue object keeps in NATS KV.

Each token's last view is under `{dropId}.{token}` and the line's head under
`{dropId}._meta`, so status, heartbeat, stats and the registration guard never call the
serialised queue object; a waiting token's place is computed exactly from its sequence
number, the head and the holes, as the object itself would.
"""

from __future__ import annotations

import time
from typing import Any

from drop import events
from drop.adapters.nats_bus import Bus
from drop.domain.queue_rules import estimated_wait_seconds, place_in_line, token_is_well_formed

META = "_meta"


def meta_key(drop_id: str) -> str:
    return f"{drop_id}.{META}"


async def meta(bus: Bus, drop_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await bus.get_json(events.QUEUE_TOKENS_BUCKET, meta_key(drop_id))
    return found


async def token_view(bus: Bus, drop_id: str, token: str) -> dict[str, Any]:
    """The token's view with its exact place in line (`found: False` when unknown)."""
    if not token_is_well_formed(token):
        return {"found": False}
    record = await bus.get_json(events.QUEUE_TOKENS_BUCKET, f"{drop_id}.{token}")
    if not isinstance(record, dict):
        return {"found": False}
    view: dict[str, Any] = {**record, "found": True}
    now = int(time.time() * 1000)
    if view["status"] == "waiting":
        line = await meta(bus, drop_id)
        if line is not None and isinstance(view.get("seq"), int):
            position = place_in_line(view["seq"], int(line["head"]), line["holes"])
            view["position"], view["aheadOfYou"] = position, position - 1
            view["totalInQueue"] = int(line["waiting"])
            view["estimatedWaitSeconds"] = estimated_wait_seconds(
                position, float(line["rate"]), int(line["ready"]), int(line["maxConcurrent"])
            )
    elif view["status"] == "ready" and now >= int(view.get("expiresAt") or 0):
        view["status"] = "expired"  # its timer has not run yet, but it can no longer be used
    return view
