"""The durable contract of webhook deliveries (`WebhookDelivery`, key = the webhook-id, and
`WebhookFanout`)."""

from __future__ import annotations

from typing import Any

from drop.durable.base import Durable


class DeliveryIn(Durable):
    """One webhook event for one endpoint; `body` is sent as is on every attempt."""

    endpoint_id: str
    type: str
    body: dict[str, Any]
    at_ms: int


class NextAttempt(Durable):
    """A delivery's next attempt, which it schedules itself after a failure. `number` is
    the attempt it will be (a stale one, overtaken by an operator's retry, ends at once);
    `nth` counts this run's attempts for the backoff; `started_ms` is when this run began."""

    number: int
    nth: int
    started_ms: int
    manual: bool = False


class Dispatch(Durable):
    """Deliveries to start, each under its webhook-id (`WebhookFanout.dispatch`)."""

    deliveries: dict[str, DeliveryIn]
