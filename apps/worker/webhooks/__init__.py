"""Webhook delivery in the worker: the outcome feed (`feed`) and the durable delivery
(`delivery`, the `WebhookDelivery` object)."""

from apps.worker.webhooks.delivery import webhook_delivery
from apps.worker.webhooks.feed import start_feed

__all__ = ["start_feed", "webhook_delivery"]
