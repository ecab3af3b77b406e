"""Drops: create, read, register, draw, proofs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from apps.api import guards, idempotency, identity, proofs, registration_replay
from apps.api.deps import Admin, ClaimSecret, DropId, IdempotencyKey, NatsBus, State, UserId
from apps.api.errors import refusals
from apps.api.known import known_drop
from drop import durable
from drop.adapters.contact_store import ContactStore
from drop.adapters.restate_ingress import DurableCallError
from drop.answers import ActiveDropsOut, RegisterAnswer, StatusOut
from drop.contracts import DropConfig, LoyaltyOut, RegisterIn

router = APIRouter(prefix="/api")


def server_time() -> int:
    return int(time.time() * 1000)


async def drop_state(state: State, drop_id: str) -> dict[str, Any]:
    """From the index, never the durable layer: 404 for an unknown drop."""
    return await known_drop(state, drop_id)


@router.post("/drops", dependencies=[Admin], status_code=201, responses=refusals(400, 401, 403))
async def create_drop(body: DropConfig, state: State) -> durable.Created:
    """Create a drop (admin). Idempotent: the same config again returns the same commitment."""
    config = durable.NewDrop.model_validate(body.wire())
    return await state.ingress.call(durable.DROP_INITIALIZE, config, key=body.drop_id)


@router.get("/drops/active", response_model=ActiveDropsOut)
async def active_drops(state: State) -> dict[str, Any]:
    """Drops in registration or purchase, soonest deadline first."""
    return {"drops": state.index.active(), "serverTime": server_time()}


@router.get("/drop/rollover/{userId}", responses=refusals(400))
async def rollover(userId: UserId, state: State) -> durable.Balance:
    """A user's rollover credit balance."""
    return await state.ingress.call(durable.ROLLOVER_BALANCE, None, key=userId)


@router.get("/drop/loyalty/{userId}", responses=refusals(400))
async def loyalty(userId: UserId, state: State) -> LoyaltyOut:
    """A user's loyalty tier, multiplier and streak."""
    return await state.ingress.call(durable.LOYALTY_MULTIPLIER, None, key=userId)


@router.get("/drop/{dropId}/status", response_model=StatusOut, responses=refusals(400, 404))
async def status(dropId: DropId, state: State) -> dict[str, Any]:
    """The drop's published state, with the server's clock for countdowns."""
    return {**await drop_state(state, dropId), "serverTime": server_time()}


@router.post(
    "/drop/{dropId}/register",
    dependencies=[IdempotencyKey, ClaimSecret],
    response_model=RegisterAnswer,
    # `recoveryCode`, `sessionIssued` and `recoverWith` are sent only when they apply.
    response_model_exclude_none=True,
    responses=refusals(400, 403, 404, 409, 422, 429, 503),
)
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
    session (HttpOnly cookie and `X-Session-Token` header) that purchase calls require.
    Concurrent entries share one durable call (group commit); each is judged on its own.
    An optional `email` is kept apart from the drop (never published) and used only to
    mail this person their outcome.
    A retry with the same `Idempotency-Key` and body gets the stored answer before any
    claim check; without proof of the claim it carries no session, only the way to
    recover one."""
    await drop_state(state, dropId)
    entry = {
        "userId": body.user_id,
        "tickets": body.tickets,
        "location": body.location.wire() if body.location else None,
    }
    if body.variants is not None:
        entry["variants"] = body.variants
    route, meaning = f"register:{dropId}:{body.user_id}", {"dropId": dropId, **entry}
    # A retry gets its stored answer before any claim check, so a lost answer converges.
    replayed = await registration_replay.replay(request, state, bus, route, meaning, body.user_id)
    if replayed is not None:
        return replayed
    reads = guards.Reads.start(state, bus, dropId, body)
    try:
        holder = await identity.identify(request, state, bus, body.user_id)
        scope = idempotency.Scope.of(request, route, meaning, lambda: holder.caller)
        token = await guards.check_registration(request, state, bus, dropId, body, reads)
    finally:
        reads.close()
    holder = await identity.claim(bus, holder)
    if body.email is not None:
        # Kept before the entry exists: the mailer reads it when the entry's event arrives.
        async with guards.fail_closed("contact store"):
            await ContactStore(bus).remember(body.user_id, body.email)
    try:
        result = await state.registrations.submit(dropId, {**entry, "queueToken": token})
    except DurableCallError as exc:
        return await identity.refused(request, bus, state, holder, exc)
    if "error" in result:
        err = result["error"]
        refusal = guards.refusal(int(err["status"]), str(err["code"]), str(err["message"]))
        return await identity.refused(request, bus, state, holder, refusal)
    answer: dict[str, Any] = result["ok"]
    await registration_replay.remember(request, bus, scope, route, holder, answer)
    await identity.admit(request, response, bus, holder, state)
    return identity.with_recovery_code(holder, answer)


@router.post(
    "/drop/{dropId}/lottery", dependencies=[Admin], responses=refusals(400, 401, 404, 409, 503)
)
async def run_lottery(dropId: DropId, state: State) -> durable.DrawSummary:
    """Run the draw now (admin), once registration has closed: before then, 409
    `registration_open` (the timer draws at registrationEnd by itself)."""
    await drop_state(state, dropId)
    lottery = state.ingress.call(
        durable.DROP_RUN_LOTTERY, durable.DrawIn(trigger="admin"), key=dropId
    )
    return await state.stalls.call(dropId, lottery)


@router.post(
    "/drop/{dropId}/promote", dependencies=[Admin], responses=refusals(400, 401, 404, 409, 503)
)
async def promote(dropId: DropId, state: State) -> durable.PromotedOut:
    """Promote the next backup winner by hand (admin)."""
    await drop_state(state, dropId)
    promoted = state.ingress.call(durable.DROP_PROMOTE_BACKUP, None, key=dropId)
    return await state.stalls.call(dropId, promoted)


def _cached(request: Request, rendered: proofs.Rendered) -> Response:
    headers = {"ETag": rendered.etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == rendered.etag:
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)


@router.get("/drop/{dropId}/lottery-proof")
async def lottery_proof(
    dropId: DropId, request: Request, state: State, bus: NatsBus, participants: bool = False
) -> Any:
    """The commitment before the draw; the published proof after it (immutable). The
    participant list, which a verifier needs to recompute the tree, comes with
    `?participants=true`."""
    known = await known_drop(state, dropId)
    async with guards.fail_closed("proof store"):
        published = await state.proofs.get(bus, dropId)
    if published is None:
        if known.get("phase") == "registration":  # (as far as this mirror knows)
            return {"available": False, "commitment": known.get("lotteryCommitment")}
        return await state.ingress.call(durable.DROP_LOTTERY_PROOF, None, key=dropId)
    return _cached(request, published.full if participants else published.lean)


@router.get("/drop/{dropId}/inclusion-proof/{userId}")
async def inclusion_proof(
    dropId: DropId, userId: UserId, state: State, bus: NatsBus
) -> dict[str, Any]:
    """A participant's Merkle inclusion proof against the published root."""
    known = await known_drop(state, dropId)
    async with guards.fail_closed("proof store"):
        published = await state.proofs.get(bus, dropId)
    if published is None:
        if known.get("phase") == "registration":
            return {"available": False}
        ask = durable.ForUser(user_id=userId)
        answer = await state.ingress.call(durable.DROP_INCLUSION_PROOF, ask, key=dropId)
        return durable.DROP_INCLUSION_PROOF.answer_wire(answer)  # type: ignore[no-any-return]
    found = published.inclusion(userId)
    return {"available": True, "proof": found} if found is not None else {"available": False}
