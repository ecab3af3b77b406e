"""Webhook delivery in the worker: the outcome feed (`feed`), which starts deliveries
through `WebhookFanout` (`fanout`), and the durable delivery (`delivery`, the
`WebhookDelivery` object)."""

from apps.worker.webhooks.delivery import webhook_delivery
from apps.worker.webhooks.fanout import webhook_fanout
from apps.worker.webhooks.feed import start_feed

__all__ = ["start_feed", "webhook_delivery", "webhook_fanout"]
