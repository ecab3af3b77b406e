"""Mail's part of the worker's life: the SMTP connections and the outcome feed, started
with the worker when SMTP_URL is set and stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from apps.worker.mail.feed import OutcomeFeed
from apps.worker.mail.smtp import SmtpPool
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import RestateIngress
from drop.settings import ConnectionSettings, MailSettings

log = logging.getLogger("worker.mail")

_running: list[tuple[asyncio.Task[None], RestateIngress]] = []


def pool(mail: MailSettings) -> SmtpPool | None:
    return SmtpPool.of(mail) if mail.enabled else None


def start(bus: Bus, connections: ConnectionSettings, mail: MailSettings) -> None:
    if not mail.enabled:
        log.info("mail is off (no SMTP_URL)")
        return
    ingress = RestateIngress.create(
        connections.restate_ingress_url, connections.restate_timeout_seconds
    )
    task = asyncio.create_task(OutcomeFeed(bus, ingress).run())
    _running.append((task, ingress))
    log.info("mail is on: the outcome feed hands messages to the Mailer")


async def stop() -> None:
    while _running:
        task, ingress = _running.pop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ingress.close()
