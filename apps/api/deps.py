"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from pydantic import AfterValidator

from apps.api import admin_auth
from apps.api.errors import ApiError
from apps.api.sessions import session_user
from apps.api.state import ApiState
from drop.adapters.nats_bus import Bus
from drop.contracts import ID_PATTERN, exact_id


async def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]

DropId = Annotated[
    str, Path(pattern=ID_PATTERN, description="the drop's id"), AfterValidator(exact_id)
]
UserId = Annotated[
    str, Path(pattern=ID_PATTERN, description="the user's id"), AfterValidator(exact_id)
]


async def get_bus(state: State) -> Bus:
    if state.bus is None or not state.bus.nc.is_connected:
        raise ApiError(503, "nats_unavailable", "event bus unavailable", {"Retry-After": "2"})
    return state.bus


NatsBus = Annotated[Bus, Depends(get_bus)]


async def require_admin(request: Request, state: State, bus: NatsBus) -> None:
    """`Authorization: Bearer <ADMIN_SECRET>`, within the wrong-secret budgets."""
    await admin_auth.require_admin(request, state, bus)


Admin = Depends(require_admin)


async def require_session_for(request: Request, state: State, bus: Bus, user_id: str) -> None:
    """The caller must hold a live session of `user_id` (cookie or bearer)."""
    holder = await session_user(request, bus, state.api, state.secrets)
    if holder is None:
        raise ApiError(401, "session_required", "sign in by registering for this drop first")
    if holder != user_id:
        raise ApiError(403, "wrong_user", "this session belongs to another user")


async def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="a retry with the same key and body returns the first answer and "
            "changes nothing; kept 24 h, replayed only to the same caller",
        ),
    ] = None,
) -> str | None:
    return key


async def _claim_secret(
    secret: Annotated[
        str | None,
        Header(
            alias="X-Claim-Secret",
            description="the client's secret for its userId (22-200 characters "
            "[A-Za-z0-9_-]): the first registration claims the id with it, later ones prove "
            "the claim; without it the server makes one and returns it once as recoveryCode",
        ),
    ] = None,
) -> str | None:
    return secret


# Declared for OpenAPI; the routes read the headers where they use them.
IdempotencyKey = Depends(_idempotency_key)
ClaimSecret = Depends(_claim_secret)
