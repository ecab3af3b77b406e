"""Operator alarms (admin): what the console shows in its banner."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from apps.api import alarms
from apps.api.deps import Admin, NatsBus, State
from apps.api.errors import ApiError
from apps.api.guards import fail_closed
from drop.adapters.restate_admin import AdminUnavailableError
from drop.webhooks.store import WebhookStore

router = APIRouter(prefix="/api/admin")


@router.get("/alarms", dependencies=[Admin])
async def drop_alarms(state: State, bus: NatsBus) -> dict[str, Any]:
    """Invocations stuck on a drop (backing-off or paused), drops whose sales are halted
    by a broken invariant and disabled webhook endpoints; 503 when Restate's admin API or
    the webhook store cannot be read."""
    try:
        async with fail_closed("webhook store"):
            found = await alarms.read(state.connections.restate_admin_url, WebhookStore(bus))
    except AdminUnavailableError as exc:
        raise ApiError(503, "alarms_unavailable", f"alarms cannot be read: {exc}") from exc
    return {"alarms": found, "checkedAt": int(time.time() * 1000)}
