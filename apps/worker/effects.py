"""Side effects every handler journals: clock, secure randomness, NATS publishes.

Each goes through `ctx.run_typed` with a step name, so a replay after a crash reuses the
recorded result instead of repeating the effect. Publishes carry a stable message id, so
even an effect retried before it was journaled is dropped by JetStream as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any, TypeVar

import restate
from restate.exceptions import TerminalError

from apps.worker.runtime import current
from drop import durable, events
from drop.adapters.nats_bus import Bus
from drop.contracts import DropState, UserState
from drop.domain.errors import DomainError

log = logging.getLogger("worker")
T = TypeVar("T")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


async def now_ms(ctx: restate.Context, step: str = "now") -> int:
    return await ctx.run_typed(step, wall_clock_ms)


async def random_hex(ctx: restate.Context, step: str, nbytes: int) -> str:
    """Cryptographically secure randomness (ctx.random() is seeded from the invocation id)."""

    def draw() -> str:
        return secrets.token_hex(nbytes)

    return await ctx.run_typed(step, draw)


def _event(msg_id: str, event_type: str, data: dict[str, Any]) -> events.Event:
    return events.Event(id=msg_id, type=event_type, data=data, at=int(time.time() * 1000))


async def publish(
    ctx: restate.Context,
    subject: str,
    event_type: str,
    data: dict[str, Any],
    msg_id: str,
) -> None:
    """Publish one event exactly once."""

    async def action() -> None:
        await current().bus.publish(subject, _event(msg_id, event_type, data).model_dump(), msg_id)

    await ctx.run_typed(f"publish {event_type} {msg_id}", action)


async def publish_drop_state(ctx: restate.Context, snap: DropState) -> None:
    """Publish a drop snapshot on its subject and into the drops index.

    Snapshots of concurrent registrations are published by their participants, so they may
    arrive out of order: the index only ever moves to a newer version, and every reader
    keeps the newest version it has seen.
    """
    msg_id = f"{snap.drop_id}:state:{snap.version}"

    async def action() -> None:
        await _put_drop_state(current().bus, snap)

    await ctx.run_typed(f"publish drop_state {msg_id}", action)


async def _put_drop_state(bus: Bus, snap: DropState) -> None:
    msg_id = f"{snap.drop_id}:state:{snap.version}"
    event = _event(msg_id, "drop_state", snap.wire())
    await bus.publish(events.drop_state_subject(snap.drop_id), event.model_dump(), msg_id)
    await bus.put_if_newer(
        events.DROPS_INDEX_BUCKET,
        snap.drop_id,
        event.model_dump_json().encode(),
        lambda stored: int(json.loads(stored)["data"]["version"]) < snap.version,
    )


def user_msg_id(user: UserState) -> str:
    """A user's status event id: stable per version, so whoever publishes a version first
    (the draw's announcement or the user's own object) is the only copy stored."""
    return f"{user.drop_id}:user:{user.user_id}:{user.version}"


def user_event(user: UserState, reason: str) -> tuple[str, dict[str, Any], str]:
    """(subject, envelope, msg id) of a user's status."""
    msg_id = user_msg_id(user)
    envelope = _event(msg_id, reason, user.wire()).model_dump()
    return events.drop_user_subject(user.drop_id, user.user_id), envelope, msg_id


async def publish_users(bus: Bus, users: list[UserState], reason: str) -> None:
    """Publish many users' statuses at once (each deduplicated by its stable id)."""
    prepared = [user_event(u, reason) for u in users]
    await bus.publish_many(prepared)


async def publish_batch(ctx: restate.Context, snap: DropState, users: list[UserState]) -> None:
    """One journaled step for a registration batch: the drop's snapshot and every new
    entrant's status."""
    msg_id = f"{snap.drop_id}:state:{snap.version}"

    async def action() -> None:
        bus = current().bus
        await asyncio.gather(_put_drop_state(bus, snap), publish_users(bus, users, "registered"))

    await ctx.run_typed(f"publish batch {msg_id}", action)


async def store_proof(ctx: restate.Context, drop_id: str, proof: dict[str, Any]) -> None:
    """Keep the published proof in the object store, where the API serves it from."""

    async def action() -> None:
        data = json.dumps(proof, separators=(",", ":")).encode()
        await current().bus.put_object(events.PROOFS_STORE, drop_id, data)

    await ctx.run_typed("store proof", action)


def only(answer: durable.Batch[T]) -> T:
    """The single result of a batch of one: its answer, or its refusal raised terminally."""
    result = answer.results[0]
    if isinstance(result, durable.Refused):
        err = result.error
        raise fail(err.code, err.message, err.status)
    return result.ok


def terminal(error: DomainError) -> TerminalError:
    """A rule broken by the caller: not retried, status kept for the API answer."""
    return TerminalError(f"{error.code}: {error.message}", status_code=error.status)


def fail(code: str, message: str, status: int) -> TerminalError:
    return TerminalError(f"{code}: {message}", status_code=status)
