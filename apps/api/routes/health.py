"""Liveness and the reachability of NATS and Restate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from apps.api.deps import State

router = APIRouter()


@router.get("/health")
async def health(state: State) -> dict[str, Any]:
    """`status` is "ok" while the process serves; `nats` and `restate` say what it can reach."""
    nats_ok = state.bus is not None and state.bus.nc.is_connected
    return {
        "status": "ok",
        "service": "api",
        "nats": "ok" if nats_ok else "unreachable",
        "restate": "ok" if await state.restate_reachable() else "unreachable",
    }
