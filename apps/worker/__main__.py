"""Serve the worker with hypercorn over HTTP/2 cleartext (h2c).

HTTP/2 lets Restate keep one bidirectional stream per invocation, so a handler that awaits
a call or a timer keeps running instead of suspending and replaying; Restate registers the
worker with its plain URL (HTTP/2 is its default, no `use_http_11`).
"""

from __future__ import annotations

import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config

from apps.worker.app import build_app
from drop.logs import setup_logging
from drop.settings import ConnectionSettings, QueueSettings, RuntimeSettings, SecretSettings

DEFAULT_PORT = 9080


def main() -> None:
    rt = RuntimeSettings()
    setup_logging("worker", rt.log_level, json_lines=rt.production)
    app = build_app(ConnectionSettings(), SecretSettings(), QueueSettings())
    config = Config()
    host = rt.host
    port = rt.port or DEFAULT_PORT
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.keep_alive_timeout = 75
    config.graceful_timeout = 5
    config.accesslog = None
    logging.getLogger("worker").info("worker listening on %s (h2c)", config.bind[0])
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
