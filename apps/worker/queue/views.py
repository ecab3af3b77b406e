"""What a token's holder sees, and the mirror and events that carry it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from apps.worker.queue.state import AnyCtx, Meta, Place
from apps.worker.runtime import current
from drop import events
from drop.domain.queue_rules import (
    estimated_wait_seconds,
    place_in_line,
)
from drop.durable import TokenView


def view_of(drop_id: str, token: str, rec: Place, meta: Meta, now: int) -> TokenView:
    """What the token's holder may see (no hashes, no user id): the exact place in line."""
    status: str = rec.status
    position = ahead = wait = 0
    expires_at: int | None = None
    if status == "waiting":
        cfg = meta.cfg
        position = place_in_line(rec.seq, meta.head, meta.holes)
        ahead = position - 1
        wait = estimated_wait_seconds(position, cfg.rate, meta.ready, cfg.max_concurrent)
        expires_at = rec.wait_until
    elif status == "ready":
        expires_at = rec.expires_at
        if expires_at is not None and now >= expires_at:
            status = "expired"  # its timer has not run yet, but it can no longer be used
    return TokenView(
        token=token,
        drop_id=drop_id,
        seq=rec.seq,
        used_by=rec.used_by,
        status=status,
        position=position,
        ahead_of_you=ahead,
        total_in_queue=meta.waiting,
        estimated_wait_seconds=wait,
        joined_at=rec.joined_at,
        ready_at=rec.ready_at,
        expires_at=expires_at,
        updated_at=now,
    )


@dataclass(frozen=True)
class Emit:
    """A token's view to store in `queue_tokens`, and the event announcing it (if any)."""

    token: str
    view: TokenView
    type: str | None = None
    data: dict[str, Any] | None = None
    msg_id: str = ""
    # False for a waiting token's new place: the api computes places from the line's own
    # mirror (`_meta`), so only the event carries it.
    store: bool = True


def announce(
    drop_id: str, token: str, view: TokenView, kind: str, tag: str, *, store: bool = True
) -> Emit:
    data: dict[str, Any]
    if kind == "queue_position":
        data = {
            "position": view.position,
            "estimatedWaitSeconds": view.estimated_wait_seconds,
            "aheadOfYou": view.ahead_of_you,
            "totalInQueue": view.total_in_queue,
        }
    elif kind == "queue_ready":
        data = {"token": token, "expiresAt": view.expires_at}
    else:
        data = {"token": token}
    return Emit(token, view, kind, data, f"{drop_id}:q:{token}:{tag}", store)


def line_view(meta: Meta) -> dict[str, JsonValue]:
    """The line's head and counters, mirrored so the API computes exact places itself."""
    return {
        "head": meta.head,
        "holes": list(meta.holes),
        "tail": meta.tail,
        "waiting": meta.waiting,
        "ready": meta.ready,
        "admitted": meta.admitted,
        "used": meta.used,
        "expired": meta.expired,
        "loopActive": meta.loop.active,
        "rate": meta.cfg.rate,
        "maxConcurrent": meta.cfg.max_concurrent,
    }


async def emit(
    ctx: AnyCtx, step: str, drop_id: str, *phases: list[Emit], meta: Meta | None = None
) -> None:
    """Store the views (and the line's, when given) and publish the events in one
    journaled step, phase after phase (an expiry is published before the admission that
    reuses its slot); within a phase, the views are stored before their events go out."""
    if not any(phases) and meta is None:
        return

    async def action() -> None:
        bus = current().bus
        kv = await bus.kv(events.QUEUE_TOKENS_BUCKET)
        at = int(time.time() * 1000)
        if meta is not None:
            await kv.put(f"{drop_id}._meta", json.dumps(line_view(meta)).encode())
        for phase in phases:
            await asyncio.gather(
                *(
                    kv.put(
                        f"{drop_id}.{item.token}", item.view.model_dump_json(by_alias=True).encode()
                    )
                    for item in phase
                    if item.store
                )
            )
            await bus.publish_many([_event(drop_id, item, at) for item in phase if item.type])

    await ctx.run_typed(step, action)


def _event(drop_id: str, item: Emit, at: int) -> tuple[str, dict[str, Any], str]:
    assert item.type is not None
    event = events.Event(id=item.msg_id, type=item.type, data=item.data or {}, at=at)
    return events.queue_subject(drop_id, item.token), event.model_dump(), item.msg_id
