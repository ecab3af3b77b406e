"""What deliveries need from the process: the stores, the HTTP poster and the settings.
Installed once NATS is connected (`feed.start_feed`); a delivery that runs before that
fails and Restate retries it."""

from __future__ import annotations

from dataclasses import dataclass

from drop.settings import WebhookSettings
from drop.webhooks.http import Poster
from drop.webhooks.store import WebhookStore


@dataclass
class WebhookRuntime:
    store: WebhookStore
    poster: Poster
    settings: WebhookSettings


_current: WebhookRuntime | None = None


def install(runtime: WebhookRuntime | None) -> None:
    global _current
    _current = runtime


def current() -> WebhookRuntime:
    if _current is None:
        raise RuntimeError("webhooks not started (NATS not connected yet)")
    return _current
