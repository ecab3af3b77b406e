"""A tiny service that proves the whole path: ingress → handler → journaled NATS publish."""

from __future__ import annotations

import restate

from apps.worker.runtime import current
from drop import events
from drop.durable import Echoed

diagnostics = restate.Service("Diagnostics")


@diagnostics.handler()
async def echo(ctx: restate.Context, message: str) -> Echoed:
    """Publish `message` on `system.echo` and return the stream sequence it got."""
    msg_id = f"echo:{ctx.request().id}"
    event = events.Event(id=msg_id, type="echoed", data={"message": message})

    async def publish() -> int:
        return await current().bus.publish(
            events.system_subject("echo"), event.model_dump(), msg_id
        )

    seq = await ctx.run_typed("publish", publish)
    return Echoed(id=msg_id, seq=seq)


@diagnostics.handler()
async def ping(ctx: restate.Context) -> str:
    """Does nothing: the Restate round trip floor for benchmarks."""
    return "pong"


@diagnostics.handler()
async def version(ctx: restate.Context) -> str:
    """The worker build that ran this invocation (WORKER_VERSION): which deployment of an
    upgrade new calls reach."""
    return current().version
