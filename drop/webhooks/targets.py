"""The durable contract of webhook deliveries (`WebhookDelivery`, key = the webhook-id)."""

from __future__ import annotations

from typing import Any

from drop.durable import NONE, Durable, ForUser, target


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


WEBHOOK_DELIVER = target("WebhookDelivery", "deliver", DeliveryIn, NONE)
WEBHOOK_ATTEMPT = target("WebhookDelivery", "attempt", NextAttempt, NONE)
# One call per batch of the feed starts all its deliveries: one ingress request instead
# of one per delivery.
WEBHOOK_DISPATCH = target("WebhookFanout", "dispatch", Dispatch, NONE)
# An operator's retry of a delivery that gave up (or went through): the same webhook-id.
WEBHOOK_RETRY = target("WebhookDelivery", "retry", NONE, NONE)


class OrderOut(Durable):
    """A user's order in a drop (empty when they have none)."""

    order_id: str | None = None
    at: int | None = None


# The order behind an `order.completed` (a shared read: it never waits for the drop).
DROP_GET_ORDER = target("Drop", "getOrder", ForUser, OrderOut)
