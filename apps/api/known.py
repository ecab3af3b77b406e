"""Whether a drop exists, answered without the durable layer.

An exclusive handler of the durable Drop object, called on an id that was never created,
holds that id's queue until it gives up. Unknown ids are therefore answered here, from the
index mirror or, for a drop created a moment ago, from the index bucket itself.
"""

from __future__ import annotations

from typing import Any

from apps.api.errors import ApiError
from apps.api.state import ApiState
from drop import events


async def known_drop(state: ApiState, drop_id: str) -> dict[str, Any]:
    """The drop's latest snapshot; 404 `drop_not_found` when there is no such drop."""
    known = state.index.get(drop_id)
    if known is not None:
        return known
    if state.bus is None or not state.bus.nc.is_connected:
        raise ApiError(503, "nats_unavailable", "event bus unavailable", {"Retry-After": "2"})
    envelope = await state.bus.get_json(events.DROPS_INDEX_BUCKET, drop_id)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        raise ApiError(404, "drop_not_found", f"drop {drop_id} does not exist")
    fresh: dict[str, Any] = envelope["data"]
    state.index.apply(fresh)
    return fresh
