"""The durable contract of webhook deliveries (`WebhookDelivery`, key = the webhook-id)."""

from __future__ import annotations

from typing import Any

from drop.durable import NONE, Durable, target


class DeliveryIn(Durable):
    """One webhook event for one endpoint; `body` is sent as is on every attempt."""

    endpoint_id: str
    type: str
    body: dict[str, Any]
    at_ms: int


WEBHOOK_DELIVER = target("WebhookDelivery", "deliver", DeliveryIn, NONE)
# An operator's retry of a delivery that gave up (or went through): the same webhook-id.
WEBHOOK_RETRY = target("WebhookDelivery", "retry", NONE, NONE)
