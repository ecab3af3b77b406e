"""The worker's ASGI app: the restate endpoint plus a lifespan that connects NATS."""

from __future__ import annotations

import logging
from typing import Any

import restate

from apps.worker import runtime
from apps.worker.diagnostics import diagnostics
from apps.worker.drop_object import drop_object
from apps.worker.participant import participant
from apps.worker.settlement import settlement
from apps.worker.user_loyalty import user_loyalty
from apps.worker.user_rollover import user_rollover
from drop.adapters import nats_bus
from drop.settings import ConnectionSettings, DropPolicySettings, QueueSettings, SecretSettings

log = logging.getLogger("worker")

SERVICES: list[Any] = [
    diagnostics,
    drop_object,
    participant,
    user_rollover,
    user_loyalty,
    settlement,
]

Scope = dict[str, Any]


def build_app(
    connections: ConnectionSettings, secrets: SecretSettings, queue: QueueSettings
) -> Any:
    """Wrap restate's app so NATS is connected before the first invocation arrives."""
    restate_app = restate.app(services=SERVICES)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await restate_app(scope, receive, send)

    async def _lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                bus = await nats_bus.connect(connections.nats_url, "drop-worker")
                runtime.install(
                    runtime.WorkerRuntime(
                        bus=bus, secrets=secrets, queue=queue, policy=DropPolicySettings()
                    )
                )
                log.info("worker connected to NATS at %s", connections.nats_url)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await runtime.current().bus.close()
                finally:
                    runtime.install(None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
