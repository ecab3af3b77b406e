"""Purchase: a winner starts (gets a signed token) and completes (spends it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from apps.api import idempotency
from apps.api.deps import DropId, NatsBus, State, UserId, require_session_for
from apps.api.guards import fail_closed
from apps.api.known import known_drop
from drop import events
from drop.contracts import PurchaseIn, UserIn, UserState
from drop.domain import claims

router = APIRouter(prefix="/api/drop/{dropId}")


def caller(user_id: str) -> str:
    """Purchases run only for the session's own user, so the session names the caller."""
    return claims.session_fingerprint(user_id)


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
    await known_drop(state, dropId)
    payload = {"userId": body.user_id}
    scope = idempotency.Scope.of(
        request, f"purchase-start:{dropId}:{body.user_id}", payload, caller(body.user_id)
    )
    return await idempotency.once(
        bus,
        scope,
        lambda: state.stalls.call(
            dropId,
            state.ingress.call(
                "Drop", "startPurchase", payload, key=dropId, idempotency_key=scope.key
            ),
        ),
    )


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
    await known_drop(state, dropId)
    payload = body.wire()
    scope = idempotency.Scope.of(
        request, f"purchase:{dropId}:{body.user_id}", payload, caller(body.user_id)
    )
    return await idempotency.once(
        bus,
        scope,
        lambda: state.stalls.call(
            dropId,
            state.ingress.call(
                "Drop", "completePurchase", payload, key=dropId, idempotency_key=scope.key
            ),
        ),
    )


@router.get("/me/{userId}")
async def my_status(
    dropId: DropId, userId: UserId, request: Request, state: State, bus: NatsBus
) -> Any:
    """The caller's own status in the drop, purchase token included (session required).
    Read from the user's mirror (their last published status), never from a durable
    object."""
    require_session_for(request, state, userId)
    subject = events.drop_user_subject(dropId, userId)
    async with fail_closed("status store"):
        envelope = await bus.last_on_subject(events.DROPS_STREAM, subject)
    if isinstance(envelope, dict) and isinstance(envelope.get("data"), dict):
        return envelope["data"]
    return UserState(drop_id=dropId, user_id=userId).wire()
