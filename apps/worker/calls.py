"""Calls between durable objects by name, so no object module imports another.

Each target is a (service, handler) pair kept here; payloads are JSON, like ingress calls.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, NamedTuple

import restate


class Target(NamedTuple):
    service: str
    handler: str


DROP_RUN_LOTTERY = Target("Drop", "runLottery")
DROP_CLOSE_WINDOW = Target("Drop", "closePurchaseWindow")
DROP_CHECK_EXPIRY = Target("Drop", "checkWinnerExpiry")
DROP_REGISTER_BATCH = Target("Drop", "registerBatch")
PARTICIPANT_OUTCOME = Target("Participant", "applyOutcome")
PARTICIPANT_TOKEN = Target("Participant", "tokenIssued")
PARTICIPANT_SETTLE = Target("Participant", "settle")
ROLLOVER_CONSUME = Target("UserRollover", "consumeRollover")
ROLLOVER_ADD = Target("UserRollover", "addRollover")
LOYALTY_RECORD = Target("UserLoyalty", "recordParticipation")
QUEUE_USE_TOKENS = Target("QueueAdmission", "useTokens")
QUEUE_TICK = Target("QueueAdmission", "tick")
QUEUE_EXPIRE = Target("QueueAdmission", "markTokenExpired")
QUEUE_SWEEP = Target("QueueAdmission", "sweepReady")
SETTLE_OUTCOMES = Target("Settlement", "publishOutcomes")
SETTLE_CHUNK = Target("Settlement", "settleChunk")


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


async def call(ctx: restate.Context, target: Target, payload: Any, key: str | None = None) -> Any:
    return await answer(start(ctx, target, payload, key))


def send(
    ctx: restate.Context,
    target: Target,
    payload: Any,
    key: str | None = None,
    delay: timedelta | None = None,
) -> None:
    ctx.generic_send(target.service, target.handler, _encode(payload), key=key, send_delay=delay)


def start(
    ctx: restate.Context, target: Target, payload: Any, key: str | None = None
) -> restate.RestateDurableCallFuture[bytes]:
    """Begin a call without waiting, so several run at once; read it with `answer`."""
    return ctx.generic_call(target.service, target.handler, _encode(payload), key=key)


async def answer(future: restate.RestateDurableCallFuture[bytes]) -> Any:
    raw = await future
    return json.loads(raw) if raw else None
