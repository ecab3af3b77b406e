"""The worker's ASGI app: the restate endpoint plus a lifespan that connects NATS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import restate
from restate.server import install_shutdown_hook

from apps.worker import runtime
from apps.worker.diagnostics import diagnostics
from apps.worker.drops import drop_object
from apps.worker.mail import outbox
from apps.worker.mail.fanout import mail_fanout
from apps.worker.mail.service import mailer
from apps.worker.participant import participant
from apps.worker.queue import queue_admission
from apps.worker.settlement import settlement
from apps.worker.user_loyalty import user_loyalty
from apps.worker.user_rollover import user_rollover
from apps.worker.webhooks import start_feed, webhook_delivery, webhook_fanout
from drop import deployments, tracing
from drop.adapters import nats_bus
from drop.settings import (
    ConnectionSettings,
    DropPolicySettings,
    MailSettings,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
    WorkerIdentitySettings,
    WorkerRoleSettings,
    WorkerVersionSettings,
)

log = logging.getLogger("worker")

DROP_SERVICES: list[Any] = [
    diagnostics,
    drop_object,
    participant,
    user_rollover,
    user_loyalty,
    settlement,
    queue_admission,
]
# Mail and webhooks: served (with their feeds) by the `notifications` role.
NOTIFICATION_SERVICES: list[Any] = [mailer, mail_fanout, webhook_delivery, webhook_fanout]
SERVICES: list[Any] = DROP_SERVICES + NOTIFICATION_SERVICES


def services_for(role: WorkerRoleSettings) -> list[Any]:
    """The services a worker of `role` registers with Restate: Restate routes each service
    to the newest deployment that has it, so a split pair serves each from one process."""
    return [
        *(DROP_SERVICES if role.runs_drops else []),
        *(NOTIFICATION_SERVICES if role.runs_notifications else []),
    ]


Scope = dict[str, Any]


def build_app(
    connections: ConnectionSettings,
    secrets: SecretSettings,
    queue: QueueSettings,
    identity: WorkerIdentitySettings | None = None,
    nats_auth: NatsAuthSettings | None = None,
    build: WorkerVersionSettings | None = None,
    mail: MailSettings | None = None,
    role: WorkerRoleSettings | None = None,
) -> Any:
    """Wrap restate's app so NATS is connected before the first invocation arrives."""
    keys = (identity or WorkerIdentitySettings()).key_list
    nats_auth = nats_auth or NatsAuthSettings()
    version = (build or WorkerVersionSettings()).worker_version
    role = role or WorkerRoleSettings()
    mail = mail or MailSettings()
    notifies = role.runs_notifications
    # With keys, restate-sdk answers 401 to any call not signed by our restate-server: the
    # worker's port alone no longer lets a caller run handlers as anyone.
    restate_app = tracing.instrument_restate(
        restate.app(services=services_for(role), identity_keys=keys or None)
    )
    if not keys:
        log.warning("RESTATE_IDENTITY_KEYS is empty: the worker accepts unsigned calls")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "http":
            # Restate reaches this build at /v/<version>/... (restate-sdk finds its routes
            # under any prefix, and the signed identity covers the whole path, so it stays).
            # A call meant for another build, still registered, must not run on this code.
            asked, _ = deployments.split_versioned_path(scope["path"])
            if asked is not None and asked != version:
                await _not_this_build(send)
                return
        await restate_app(scope, receive, send)

    feeds: list[asyncio.Task[None]] = []

    async def _connect() -> None:
        """Connect to NATS in the background so the worker answers /health at once;
        handlers that need NATS before it is up fail and Restate retries them."""
        while True:
            try:
                bus = await nats_bus.connect(
                    connections.nats_url,
                    "drop-worker",
                    user=nats_auth.nats_user,
                    password=nats_auth.nats_password,
                    replicas=connections.nats_replicas,
                )
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            runtime.install(
                runtime.WorkerRuntime(
                    bus=bus,
                    secrets=secrets,
                    queue=queue,
                    policy=DropPolicySettings(),
                    version=version,
                    mail=mail,
                    smtp=outbox.pool(mail) if notifies else None,
                )
            )
            log.info("worker (%s) connected to NATS at %s", role.worker_role, connections.nats_url)
            if notifies:
                feeds.append(start_feed(bus, connections))
                outbox.start(bus, connections, mail)
            return

    async def _lifespan(receive: Any, send: Any) -> None:
        connector: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _exit_on_sigterm()
                connector = asyncio.create_task(_connect())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (connector, *feeds):
                    if task is not None:
                        task.cancel()
                await outbox.stop()
                with contextlib.suppress(RuntimeError):
                    await runtime.current().bus.close()
                runtime.install(None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app


async def _not_this_build(send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"not this worker version"})


def _exit_on_sigterm() -> None:
    """restate-sdk takes over SIGTERM on its first request (to tell open invocations to
    wind down), which leaves the HTTP server deaf to it. Registering through the same hook
    first, we get called too and leave shortly after: anything still running is retried by
    Restate from its journal, which is what a durable worker is for."""
    loop = asyncio.get_running_loop()

    def leave() -> None:
        log.info("SIGTERM: worker exiting")
        loop.call_later(0.5, os._exit, 0)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        install_shutdown_hook(loop, leave, signal.SIGTERM)
