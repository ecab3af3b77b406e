"""Run an ASGI app with uvicorn on HOST:PORT, the way every HTTP app here starts."""

from __future__ import annotations

from typing import Any

import uvicorn

from drop.logs import setup_logging
from drop.settings import RuntimeSettings


def run(service: str, app: Any, default_port: int, **uvicorn_options: Any) -> None:
    rt = RuntimeSettings()
    setup_logging(service, rt.log_level, json_lines=rt.production)
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
