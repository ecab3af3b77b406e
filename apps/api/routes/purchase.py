"""Purchase: a winner starts (gets a signed token) and completes (spends it)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request

from apps.api import idempotency, user_status
from apps.api.deps import DropId, IdempotencyKey, NatsBus, State, UserId, require_session_for
from apps.api.errors import refusals
from apps.api.known import known_drop
from drop import durable
from drop.contracts import PurchaseIn, UserIn, UserState
from drop.domain import claims

router = APIRouter(prefix="/api/drop/{dropId}")
In = TypeVar("In")
Out = TypeVar("Out")


def caller(user_id: str) -> str:
    """Purchases run only for the session's own user, so the session names the caller."""
    return claims.session_fingerprint(user_id)


class Step:
    """One purchase step for the session's own user, run once per Idempotency-Key and
    answered as the JSON the handler sent (a replay is served as stored)."""

    def __init__(self, request: Request, state: State, bus: NatsBus) -> None:
        self.request, self.state, self.bus = request, state, bus

    async def once(
        self, drop_id: str, user_id: str, route: str, target: durable.Target[In, Out], body: In
    ) -> Any:
        state = self.state
        await require_session_for(self.request, state, self.bus, user_id)
        await known_drop(state, drop_id)
        payload = target.wire(body)
        scope = idempotency.Scope.of(
            self.request, f"{route}:{drop_id}:{user_id}", payload, lambda: caller(user_id)
        )

        async def ask() -> Any:
            call = state.ingress.call(target, body, key=drop_id, idempotency_key=scope.key)
            return target.answer_wire(await state.stalls.call(drop_id, call))

        return await idempotency.once(self.bus, scope, ask)


PurchaseStep = Annotated[Step, Depends()]
# Answers are the JSON the handler sent (a replay is served as stored), read by these models.
REFUSED = refusals(400, 401, 403, 404, 409, 410, 422, 503)
steps = APIRouter(dependencies=[IdempotencyKey], responses=REFUSED)


@steps.post("/purchase/start", response_model=durable.TokenOut)
async def start_purchase(dropId: DropId, body: UserIn, step: PurchaseStep) -> Any:
    """Issue the winner's purchase token (the same one again if asked twice)."""
    target, ask = durable.DROP_START_PURCHASE, durable.ForUser(user_id=body.user_id)
    return await step.once(dropId, body.user_id, "purchase-start", target, ask)


@steps.post("/purchase", response_model=durable.Purchased)
async def complete_purchase(dropId: DropId, body: PurchaseIn, step: PurchaseStep) -> Any:
    """Spend the token: one order, inventory minus one."""
    target, ask = durable.DROP_COMPLETE_PURCHASE, durable.PurchaseTry.model_validate(body.wire())
    return await step.once(dropId, body.user_id, "purchase", target, ask)


router.include_router(steps)


@router.get("/me/{userId}", response_model=UserState, responses=refusals(400, 401, 403, 503))
async def my_status(
    dropId: DropId, userId: UserId, request: Request, state: State, bus: NatsBus
) -> Any:
    """The caller's own status in the drop, purchase token included (session required).
    Read from the user's mirror (their last published status), never from a durable
    object."""
    await require_session_for(request, state, bus, userId)
    return await user_status.published(bus, dropId, userId)
