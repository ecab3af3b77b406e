"""The outcome feed: a durable JetStream pull consumer (`webhooks`) on the DROPS stream
that turns published drop snapshots and user statuses into webhook deliveries.

For each webhook event and each endpoint that takes it, one `WebhookDelivery` invocation
is started, keyed and idempotency-keyed by the webhook-id (through one
`WebhookFanout.dispatch` call per batch); a batch is acked only after Restate accepted the
call, so a crash anywhere re-delivers the batch and the sends repeat harmlessly. The
drop's handlers never wait for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from apps.worker.webhooks import runtime
from drop import events
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import RestateIngress
from drop.durable import WEBHOOK_DISPATCH, DeliveryIn, Dispatch
from drop.settings import ConnectionSettings, WebhookSettings
from drop.webhooks import catalog
from drop.webhooks.http import Poster
from drop.webhooks.store import WebhookStore

log = logging.getLogger("worker.webhooks")

DURABLE = "webhooks"
BATCH = 256
FETCH_WAIT_S = 2.0
TOP_UP_WAIT_S = 0.05
# Unacked this long (the worker died holding them), a batch is delivered again.
ACK_WAIT_S = 15.0
RETRY_PAUSE_S = 1.0
# Deliveries started by one `WebhookFanout.dispatch` call.
DISPATCH_SIZE = 500
# Webhook events already sent by this process, so the many snapshots that repeat one
# (every snapshot after the draw says it was drawn) cost no send each.
REMEMBERED = 50_000
# Only these statuses make a webhook event: everything else is skipped unparsed.
_USER_MARKS = (b'"status":"winner"', b'"status":"expired"', b'"status":"purchased"')


def _may_matter(subject: str, data: bytes) -> bool:
    if subject.endswith(".state"):
        return True
    return any(mark in data for mark in _USER_MARKS)


class Feed:
    def __init__(self, bus: Bus, ingress: RestateIngress, settings: WebhookSettings) -> None:
        self.bus, self.ingress, self.settings = bus, ingress, settings
        self.store = WebhookStore(bus)
        self.sent: OrderedDict[str, None] = OrderedDict()

    async def _subscribe(self) -> Any:
        return await self.bus.js.pull_subscribe(
            "drop.>",
            durable=DURABLE,
            stream=events.DROPS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=20 * BATCH,
            ),
        )

    async def run(self) -> None:
        sub: Any = None
        while True:
            try:
                if sub is None:
                    sub = await self._subscribe()
                msgs = await self._next_batch(sub)
            except (NatsTimeout, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhook feed cannot read (%r); subscribing again", exc)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                sub = None
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            try:
                await self.handle(msgs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not acked: the batch comes again after the pause.
                log.warning("webhook feed could not send a batch (%r); retrying", exc)
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _next_batch(self, sub: Any) -> list[Any]:
        """Whatever has arrived, as soon as something has: a pull for a whole batch would
        wait for the batch to fill (or its expiry), so wait for one, then top it up."""
        msgs: list[Any] = await sub.fetch(1, timeout=FETCH_WAIT_S)
        with contextlib.suppress(NatsTimeout, TimeoutError):
            msgs += await sub.fetch(BATCH - 1, timeout=TOP_UP_WAIT_S)
        return msgs

    async def handle(self, msgs: list[Any]) -> None:
        found: dict[str, catalog.Happened] = {}
        for msg in msgs:
            if not _may_matter(msg.subject, msg.data):
                continue
            try:
                envelope = json.loads(msg.data)
            except ValueError:
                continue
            for happened in catalog.from_event(msg.subject, envelope, self.settings.public_url):
                if happened.key not in self.sent:
                    found.setdefault(happened.key, happened)
        if found:
            try:
                await self._send(list(found.values()))
            except Exception:
                with contextlib.suppress(Exception):
                    await asyncio.gather(*(m.nak(delay=RETRY_PAUSE_S) for m in msgs))
                raise
        await asyncio.gather(*(m.ack() for m in msgs))
        for key in found:
            self.sent[key] = None
        while len(self.sent) > REMEMBERED:
            self.sent.popitem(last=False)

    async def _send(self, found: list[catalog.Happened]) -> None:
        endpoints = [e for e in await self.store.endpoints() if not e.get("disabled")]
        deliveries: dict[str, DeliveryIn] = {}
        for happened in found:
            for endpoint in endpoints:
                if happened.type not in endpoint["events"]:
                    continue
                if int(endpoint["createdAt"]) > happened.at:
                    continue  # it happened before the endpoint was added
                delivery_id = catalog.delivery_id(str(endpoint["id"]), happened.key)
                deliveries[delivery_id] = DeliveryIn(
                    endpoint_id=str(endpoint["id"]),
                    type=happened.type,
                    body=happened.body(),
                    at_ms=happened.at,
                )
        ids = sorted(deliveries)
        for first in range(0, len(ids), DISPATCH_SIZE):
            chunk = {i: deliveries[i] for i in ids[first : first + DISPATCH_SIZE]}
            # The same deliveries sent again (a batch re-delivered) are the same call.
            key = hashlib.sha256("|".join(chunk).encode()).hexdigest()
            await self.ingress.send(
                WEBHOOK_DISPATCH, Dispatch(deliveries=chunk), idempotency_key=key
            )


def start_feed(bus: Bus, connections: ConnectionSettings) -> asyncio.Task[None]:
    """Install what deliveries need and start the feed (cancel the task to stop it)."""
    settings = WebhookSettings()
    poster = Poster(settings.webhook_allow_private_urls, settings.webhook_timeout_seconds)
    runtime.install(runtime.WebhookRuntime(WebhookStore(bus), poster, settings))
    ingress = RestateIngress.create(
        connections.restate_ingress_url, connections.restate_timeout_seconds
    )
    feed = Feed(bus, ingress, settings)

    async def run() -> None:
        try:
            await feed.run()
        finally:
            runtime.install(None)
            with contextlib.suppress(Exception):
                await poster.close()
            await ingress.close()

    return asyncio.create_task(run(), name="webhook-feed")
