"""WebhookFanout: starts the deliveries of one feed batch, each a `WebhookDelivery` keyed
and idempotency-keyed by its webhook-id, so a batch sent twice starts nothing twice."""

from __future__ import annotations

import restate

from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.typed import handler
from drop.durable import WEBHOOK_DELIVER, Dispatch

webhook_fanout = restate.Service("WebhookFanout", invocation_retry_policy=PAUSE_WHEN_STUCK)


@handler(webhook_fanout)
async def dispatch(ctx: restate.Context, req: Dispatch) -> None:
    for delivery_id, delivery in req.deliveries.items():
        ctx.generic_send(
            WEBHOOK_DELIVER.service,
            WEBHOOK_DELIVER.handler,
            WEBHOOK_DELIVER.encode(delivery),
            key=delivery_id,
            idempotency_key=delivery_id,
        )
