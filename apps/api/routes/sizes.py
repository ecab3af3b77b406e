"""The per-size funnel of a drop with sizes (admin): what the console's drop view shows."""

from __future__ import annotations

from fastapi import APIRouter

from apps.api.deps import Admin, DropId, State
from apps.api.errors import refusals
from apps.api.known import known_drop
from drop import durable

router = APIRouter(prefix="/api/admin")


@router.get("/drop/{dropId}/sizes", dependencies=[Admin], responses=refusals(400, 401, 404))
async def size_funnel(dropId: DropId, state: State) -> durable.SizeFunnel:
    """Per size: stock, entrants who ranked it first and at all, winners and backups drawn
    for it, and sold. 404 `no_variants` on a drop without sizes. Admin only: how people
    ranked the sizes is not published before the draw."""
    await known_drop(state, dropId)
    return await state.ingress.call(durable.DROP_SIZE_FUNNEL, None, key=dropId)
