"""The worker's ASGI app built from the environment (the server's factory target)."""

from __future__ import annotations

from typing import Any

from apps.worker import crash_hook
from apps.worker.app import build_app
from drop import metrics, tracing
from drop.logs import setup_logging
from drop.settings import ConnectionSettings, QueueSettings, RuntimeSettings, SecretSettings


def create() -> Any:
    rt = RuntimeSettings()
    setup_logging("worker", rt.log_level, json_lines=rt.production)
    tracing.setup("worker")
    metrics.serve_private("worker", rt.host)
    crash_hook.install_if_asked()
    return build_app(ConnectionSettings(), SecretSettings(), QueueSettings())
