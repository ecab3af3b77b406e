"""Operator alarms (admin): what the console shows in its banner."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from apps.api import alarms
from apps.api.deps import Admin, State
from apps.api.errors import ApiError
from drop.adapters.restate_admin import AdminUnavailableError

router = APIRouter(prefix="/api/admin")


@router.get("/alarms", dependencies=[Admin])
async def drop_alarms(state: State) -> dict[str, Any]:
    """Invocations stuck on a drop (backing-off or paused) and drops whose sales are halted
    by a broken invariant; 503 when Restate's admin API cannot be read."""
    try:
        found = await alarms.read(state.connections.restate_admin_url)
    except AdminUnavailableError as exc:
        raise ApiError(503, "alarms_unavailable", f"alarms cannot be read: {exc}") from exc
    return {"alarms": found, "checkedAt": int(time.time() * 1000)}
