"""The waiting room: join, follow your place in line, report behaviour, read the counters.

Joins go to the queue object in batches (group commit); everything else reads the mirror
the object keeps in NATS KV (`apps.api.queue_view`), never the serialised object.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from apps.api import guards, idempotency, queue_view
from apps.api.deps import DropId, IdempotencyKey, NatsBus, State
from apps.api.errors import ApiError
from apps.api.routes.drops import drop_state
from apps.api.state import ApiState
from drop import durable
from drop.contracts import ID_PATTERN, QueueHeartbeatIn, QueueJoinIn
from drop.domain import claims

router = APIRouter(prefix="/api/queue")

Token = Annotated[str, Path(pattern=ID_PATTERN, description="the queue token")]

STATUS_FIELDS = ("status", "position", "aheadOfYou", "totalInQueue", "estimatedWaitSeconds")


def _status(answer: dict[str, Any]) -> dict[str, Any]:
    if not answer.get("found"):
        return {
            "found": False,
            "status": None,
            "position": None,
            "estimatedWaitSeconds": None,
            "expiresAt": None,
            "readyAt": None,
            "queueEnabled": True,
        }
    return {
        "found": True,
        **{k: answer.get(k) for k in STATUS_FIELDS},
        "expiresAt": answer.get("expiresAt"),
        "readyAt": answer.get("readyAt"),
        "queueEnabled": True,
    }


def _with_challenge(state: ApiState, answer: dict[str, Any]) -> dict[str, Any]:
    """A `ready` answer carries a fresh proof-of-work challenge (`powChallenge`, as
    `GET /api/pow/challenge` answers), saving the person that request: issuing one is a
    signature, nothing stored. Only the routes limited per address (join, heartbeat) hand
    them out, so challenges stay limited per address; the status poll is not."""
    if answer.get("status") != "ready" or not state.api.bot_check_enabled:
        return answer
    return {**answer, "powChallenge": guards.issue_challenge(state)}


def _disabled_status() -> dict[str, Any]:
    return {
        "found": False,
        "status": "ready",
        "position": 0,
        "estimatedWaitSeconds": 0,
        "expiresAt": None,
        "readyAt": None,
        "queueEnabled": False,
    }


@router.post("/{dropId}/join", dependencies=[IdempotencyKey])
async def join(
    dropId: DropId, body: QueueJoinIn, request: Request, state: State, bus: NatsBus
) -> Any:
    """Take a place in the drop's waiting room: one per device, three waiting per network.
    The same device joining again from the same network gets its live place back (a join
    whose answer was lost converges), and an `Idempotency-Key` replays the first answer."""
    await guards.rate_limit(request, state, bus, "join")
    if not state.queue.queue_enabled:
        disabled = {
            "success": True,
            "token": None,
            "position": 0,
            "estimatedWaitSeconds": 0,
            "status": "ready",
            "queueEnabled": False,
        }
        return _with_challenge(state, disabled)
    drop = await drop_state(state, dropId)
    if drop.get("phase") != "registration":
        raise ApiError(409, "registration_closed", "this drop no longer takes entries")
    device = {
        "fingerprintHash": guards.digest(state, "fp", body.fingerprint),
        "ipHash": guards.client_ip_hash(request, state),
    }
    # The device on its network is the caller: a key replays only to the one that sent it.
    scope = idempotency.Scope.of(
        request, f"join:{dropId}", {"dropId": dropId}, lambda: claims.body_fingerprint(device)
    )

    async def take_place() -> dict[str, Any]:
        result = await state.joins.submit(dropId, device)
        if "error" in result:
            err = result["error"]
            raise ApiError(int(err["status"]), str(err["code"]), str(err["message"]))
        return {**result["ok"], "queueEnabled": True}

    answer = await idempotency.once(bus, scope, take_place)
    # The challenge is added outside the stored answer: a replayed join gets a fresh one.
    return _with_challenge(state, answer) if isinstance(answer, dict) else answer


@router.get("/{dropId}/status/{token}")
async def status(dropId: DropId, token: Token, state: State, bus: NatsBus) -> dict[str, Any]:
    """Your exact place in line and estimated wait, or when your ready window ends."""
    if not state.queue.queue_enabled:
        return _disabled_status()
    async with guards.fail_closed("queue store"):
        return _status(await queue_view.token_view(bus, dropId, token))


@router.post("/{dropId}/heartbeat")
async def heartbeat(
    dropId: DropId, body: QueueHeartbeatIn, request: Request, state: State, bus: NatsBus
) -> dict[str, Any]:
    """Say you are still here; the behaviour signals it carries are scored and kept for the
    bot check at registration. Answers like the status route."""
    await guards.rate_limit(request, state, bus, "heartbeat")
    if not state.queue.queue_enabled:
        return _with_challenge(state, _disabled_status())
    async with guards.fail_closed("queue store"):
        answer = await queue_view.token_view(bus, dropId, body.token)
    if answer.get("found") and body.behavior_signals is not None:
        await guards.record_behavior(state, bus, dropId, body.token, body.behavior_signals)
    return _with_challenge(state, _status(answer))


@router.get("/{dropId}/stats")
async def stats(dropId: DropId, state: State, bus: NatsBus) -> dict[str, Any]:
    """Counters of the drop's waiting room."""
    async with guards.fail_closed("queue store"):
        line = await queue_view.meta(bus, dropId)
    if line is None:
        await drop_state(state, dropId)  # an unknown drop is a 404 from the index
        answer = await state.ingress.call(durable.QUEUE_STATS, None, key=dropId)
        return {
            **durable.QUEUE_STATS.answer_wire(answer),
            "queueEnabled": state.queue.queue_enabled,
        }
    return {
        "waitingCount": line["waiting"],
        "readyCount": line["ready"],
        "totalIssued": line["tail"],
        "totalAdmitted": line["admitted"],
        "totalUsed": line["used"],
        "totalExpired": line["expired"],
        "admissionLoopActive": line["loopActive"],
        "admissionRate": line["rate"],
        "maxConcurrent": line["maxConcurrent"],
        "queueEnabled": state.queue.queue_enabled,
    }
