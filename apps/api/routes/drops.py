"""Drops: create, read, register, draw, proofs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from apps.api import guards, idempotency, identity
from apps.api.deps import Admin, DropId, NatsBus, State, UserId
from apps.api.errors import ApiError
from drop.adapters.restate_ingress import DurableCallError
from drop.contracts import DropConfig, RegisterIn

router = APIRouter(prefix="/api")


def server_time() -> int:
    return int(time.time() * 1000)


async def drop_state(state: State, drop_id: str) -> dict[str, Any]:
    """From the in-memory index; a drop created a moment ago may only be in Restate yet."""
    known = state.index.get(drop_id)
    if known is not None:
        return known
    fresh: dict[str, Any] = await state.ingress.call("Drop", "getState", key=drop_id)
    state.index.apply(fresh)
    return fresh


@router.post("/drops", dependencies=[Admin], status_code=201)
async def create_drop(body: DropConfig, state: State) -> Any:
    """Create a drop (admin). Idempotent: the same config again returns the same commitment."""
    return await state.ingress.call("Drop", "initialize", body.wire(), key=body.drop_id)


@router.get("/drops/active")
async def active_drops(state: State) -> dict[str, Any]:
    """Drops in registration or purchase, soonest deadline first."""
    return {"drops": state.index.active(), "serverTime": server_time()}


@router.get("/drop/rollover/{userId}")
async def rollover(userId: UserId, state: State) -> Any:
    """A user's rollover credit balance."""
    return await state.ingress.call("UserRollover", "getBalance", key=userId)


@router.get("/drop/loyalty/{userId}")
async def loyalty(userId: UserId, state: State) -> Any:
    """A user's loyalty tier, multiplier and streak."""
    return await state.ingress.call("UserLoyalty", "getMultiplier", key=userId)


@router.get("/drop/{dropId}/status")
async def status(dropId: DropId, state: State) -> dict[str, Any]:
    """The drop's published state, with the server's clock for countdowns."""
    return {**await drop_state(state, dropId), "serverTime": server_time()}


@router.post("/drop/{dropId}/register")
async def register(
    dropId: DropId,
    body: RegisterIn,
    request: Request,
    response: Response,
    state: State,
    bus: NatsBus,
) -> Any:
    """Enter the drop. The first registration of a `userId` anywhere claims it (send a
    random `X-Claim-Secret`, or keep the `recoveryCode` returned once); later ones need the
    holder's session or that secret, else 403 `user_claimed`. Binds `userId` to a signed
    session (HttpOnly cookie and `X-Session-Token` header) that purchase calls require."""
    await drop_state(state, dropId)
    holder = await identity.identify(request, state, bus, body.user_id)
    payload = {
        "dropId": dropId,
        "userId": body.user_id,
        "tickets": body.tickets,
        "location": body.location.wire() if body.location else None,
    }
    scope = idempotency.Scope.of(
        request, f"register:{dropId}:{body.user_id}", payload, holder.caller
    )
    replayed = await idempotency.replay(bus, scope)
    if replayed is not None:
        identity.admit(replayed, holder, state)
        return replayed
    await guards.check_registration(request, state, bus, dropId, body)
    holder = await identity.claim(bus, holder)
    try:
        answer: dict[str, Any] = await state.ingress.call(
            "Participant",
            "register",
            payload,
            key=f"{dropId}:{body.user_id}",
            idempotency_key=scope.key,
        )
    except DurableCallError as exc:
        return await identity.refused(bus, state, holder, exc)
    await idempotency.remember(bus, scope, 200, answer)
    await guards.after_registration(request, state, bus, dropId, body)
    identity.admit(response, holder, state)
    return identity.with_recovery_code(holder, answer)


@router.post("/drop/{dropId}/lottery", dependencies=[Admin])
async def run_lottery(dropId: DropId, state: State) -> Any:
    """Run the draw now (admin); closes registration early if it is still open."""
    return await state.ingress.call("Drop", "runLottery", {"trigger": "admin"}, key=dropId)


@router.post("/drop/{dropId}/promote", dependencies=[Admin])
async def promote(dropId: DropId, state: State) -> Any:
    """Promote the next backup winner by hand (admin)."""
    return await state.ingress.call("Drop", "promoteBackup", key=dropId)


@router.get("/drop/{dropId}/lottery-proof")
async def lottery_proof(dropId: DropId, state: State) -> Any:
    """The commitment before the draw; the whole proof after it."""
    return await state.ingress.call("Drop", "getLotteryProof", key=dropId)


@router.get("/drop/{dropId}/inclusion-proof/{userId}")
async def inclusion_proof(dropId: DropId, userId: UserId, state: State) -> Any:
    """A participant's Merkle inclusion proof against the published root."""
    answer = await state.ingress.call("Drop", "getInclusionProof", {"userId": userId}, key=dropId)
    if not answer.get("available") and state.index.get(dropId) is None:
        raise ApiError(404, "drop_not_found", f"drop {dropId} does not exist")
    return JSONResponse(answer)
