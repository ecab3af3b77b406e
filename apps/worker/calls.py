"""Calls between durable objects through the contract's typed targets
(`drop.durable`), so no object module imports another and payloads keep one shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

import restate

from drop.durable import Target

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class Pending(Generic[Out]):
    """A call begun without waiting (several run at once); read it with `answer`."""

    target: Target[object, Out]
    future: restate.RestateDurableCallFuture[bytes]


async def call(
    ctx: restate.Context, target: Target[In, Out], payload: In, key: str | None = None
) -> Out:
    return await answer(start(ctx, target, payload, key))


def send(
    ctx: restate.Context,
    target: Target[In, Out],
    payload: In,
    key: str | None = None,
    delay: timedelta | None = None,
) -> None:
    raw = target.encode(payload)
    ctx.generic_send(target.service, target.handler, raw, key=key, send_delay=delay)


def start(
    ctx: restate.Context, target: Target[In, Out], payload: In, key: str | None = None
) -> Pending[Out]:
    raw = target.encode(payload)
    future = ctx.generic_call(target.service, target.handler, raw, key=key)
    return Pending(target, future)  # type: ignore[arg-type]


async def answer(pending: Pending[Out]) -> Out:
    return pending.target.decode(await pending.future)
