"""Run an ASGI app with uvicorn on HOST:PORT, the way every HTTP app here starts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from drop.logs import setup_logging
from drop.settings import MissingSecretError, RuntimeSettings


def build_or_exit(service: str, factory: Callable[[], Any]) -> Any:
    """Build the app; a missing production secret ends the process with a clear message."""
    try:
        return factory()
    except MissingSecretError as exc:
        sys.stderr.write(f"{service}: {exc}\n")
        raise SystemExit(2) from None


def run(
    service: str, factory: Callable[[], Any], default_port: int, **uvicorn_options: Any
) -> None:
    rt = RuntimeSettings()
    setup_logging(service, rt.log_level, json_lines=rt.production)
    app = build_or_exit(service, factory)
    uvicorn.run(
        app,
        host=rt.host,
        port=rt.port or default_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # Only a proxy we run may say who the client is; anyone else could fake
        # X-Forwarded-For to slip past the per-IP limits.
        forwarded_allow_ips=rt.forwarded_allow_ips,
        **uvicorn_options,
    )
