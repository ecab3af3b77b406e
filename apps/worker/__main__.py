"""Serve the worker with granian over HTTP/2 cleartext (h2c).

HTTP/2 lets Restate keep one bidirectional stream per invocation, so a handler awaiting a
call, a state read or a timer keeps running instead of suspending and being replayed; the
worker is registered with its plain URL (HTTP/2 is Restate's default). We use granian
rather than hypercorn: under load hypercorn's h2 code drops the whole connection on a
KeyError for data arriving on an already closed stream (hypercorn#197/#329, also hit by
restate's sdk-python#205), which bench/registration.py reproduced here.
"""

from __future__ import annotations

from granian import Granian
from granian.constants import HTTPModes, Interfaces

from drop import server_limits
from drop.serve import build_or_exit
from drop.settings import (
    NatsAuthSettings,
    RuntimeSettings,
    SecretSettings,
    WebhookSettings,
    WorkerIdentitySettings,
    WorkerRoleSettings,
)

DEFAULT_PORT = 9080


def main() -> None:
    rt = RuntimeSettings()
    # Refuse to start before spawning workers: the factory would only fail inside them.
    for settings in (
        SecretSettings,
        WorkerIdentitySettings,
        WorkerRoleSettings,
        NatsAuthSettings,
        WebhookSettings,
    ):
        build_or_exit("worker", settings)
    Granian(
        "apps.worker.asgi:create",
        address=rt.host,
        port=rt.port or DEFAULT_PORT,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        # Restate holds one HTTP/2 stream per running invocation; HTTP/1 is for checks.
        http1_settings=server_limits.granian_http1(),
        factory=True,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
