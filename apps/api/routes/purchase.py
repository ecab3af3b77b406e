"""Purchase: a winner starts (gets a signed token) and completes (spends it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from apps.api import idempotency
from apps.api.deps import DropId, NatsBus, State, UserId, require_session_for
from drop.contracts import PurchaseIn, UserIn

router = APIRouter(prefix="/api/drop/{dropId}")


@router.post("/purchase/start")
async def start_purchase(
    dropId: DropId,
    body: UserIn,
    request: Request,
    state: State,
    bus: NatsBus,
) -> Any:
    """Issue the winner's purchase token (the same one again if asked twice)."""
    require_session_for(request, state, body.user_id)
    key = idempotency.scoped_key(request, f"purchase-start:{dropId}:{body.user_id}")
    replayed = await idempotency.replay(bus, key)
    if replayed is not None:
        return replayed
    answer = await state.ingress.call(
        "Drop", "startPurchase", {"userId": body.user_id}, key=dropId, idempotency_key=key
    )
    await idempotency.remember(bus, key, 200, answer)
    return answer


@router.post("/purchase")
async def complete_purchase(
    dropId: DropId,
    body: PurchaseIn,
    request: Request,
    state: State,
    bus: NatsBus,
) -> Any:
    """Spend the token: one order, inventory minus one."""
    require_session_for(request, state, body.user_id)
    key = idempotency.scoped_key(request, f"purchase:{dropId}:{body.user_id}")
    replayed = await idempotency.replay(bus, key)
    if replayed is not None:
        return replayed
    answer = await state.ingress.call(
        "Drop", "completePurchase", body.wire(), key=dropId, idempotency_key=key
    )
    await idempotency.remember(bus, key, 200, answer)
    return answer


@router.get("/me/{userId}")
async def my_status(dropId: DropId, userId: UserId, request: Request, state: State) -> Any:
    """The caller's own status in the drop, purchase token included (session required)."""
    require_session_for(request, state, userId)
    return await state.ingress.call("Participant", "getStatus", key=f"{dropId}:{userId}")
