"""Run an ASGI app on HOST:PORT.

The api runs on granian (Rust HTTP stack): it answers several times more requests per
core than uvicorn here, and runs `WORKERS` processes on one port, each building its own app
from a factory (per-process state: mirrors, batches, caches). The sse and web apps hold
event streams and stay on uvicorn: sse-starlette ends open streams cleanly on uvicorn's
shutdown signal, while granian tore them mid-chunk at SIGTERM
(tests/integration/test_sse.py::test_shutdown_ends_streams_cleanly).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from granian import Granian
from granian.constants import HTTPModes, Interfaces, RuntimeModes, TaskImpl

from drop import metrics, server_limits, tracing
from drop.client_address import ClientAddress, TrustedProxies
from drop.logs import setup_logging
from drop.settings import ApiServerSettings, MissingSecretError, RuntimeSettings


def build_or_exit(service: str, factory: Callable[[], Any]) -> Any:
    """Build the app; a missing production secret ends the process with a clear message."""
    try:
        return factory()
    except MissingSecretError as exc:
        sys.stderr.write(f"{service}: {exc}\n")
        raise SystemExit(2) from None


def remember_sniffio_is_absent() -> None:
    """httpcore tries `import sniffio` on every HTTP call (to learn the async library); when
    sniffio is not installed, each try searched sys.path again (2.5% of the api's CPU under
    a crowd, its Restate calls). Marked absent, the import fails at once, as it would anyway."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def trusted_proxies(rt: RuntimeSettings) -> TrustedProxies:
    """FORWARDED_ALLOW_IPS read; an entry that is not an address stops the start."""
    try:
        return TrustedProxies(rt.forwarded_allow_ips)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def app_for_worker(service: str, factory: Callable[[], Any]) -> Any:
    """What each server process runs: logging set up, the app built, and the client
    address decided by drop.client_address (anyone could fake X-Forwarded-For to slip
    past the per-IP limits)."""
    rt = RuntimeSettings()
    setup_logging(service, rt.log_level, json_lines=rt.production)
    remember_sniffio_is_absent()
    tracing.setup(service)
    app = build_or_exit(service, factory)
    metrics.serve_private(service, rt.host, shared=rt.workers > 1)
    return with_client_address(app, rt)


def run_streams(
    service: str, factory: Callable[[], Any], default_port: int, **uvicorn_options: Any
) -> None:
    """Serve an app that holds event streams with uvicorn (see the module's docstring)."""
    rt = RuntimeSettings()
    setup_logging(service, rt.log_level, json_lines=rt.production)
    remember_sniffio_is_absent()
    tracing.setup(service)
    app = build_or_exit(service, factory)
    metrics.serve_private(service, rt.host)
    uvicorn.run(
        with_client_address(app, rt),
        host=rt.host,
        port=rt.port or default_port,
        log_config=None,
        access_log=False,
        **uvicorn_limits(),
        **uvicorn_options,
    )


def with_client_address(app: Any, rt: RuntimeSettings | None = None) -> Any:
    """`app` behind drop.client_address, as every server runs it (tests serve it so too)."""
    return ClientAddress(app, trusted_proxies(rt or RuntimeSettings()))


def uvicorn_limits() -> dict[str, Any]:
    """uvicorn's options for sse and web: our limits, and no proxy-header handling of its
    own (drop.client_address decides the client, for every server alike)."""
    return {"proxy_headers": False, **server_limits.uvicorn_options()}


def run(service: str, target: str, factory: Callable[[], Any], default_port: int) -> None:
    """Serve `target` ("module:function", a factory calling `app_for_worker`)."""
    rt = RuntimeSettings()
    setup_logging(service, rt.log_level, json_lines=rt.production)
    build_or_exit(service, factory)  # refuse to start before spawning workers
    trusted_proxies(rt)
    metrics.clear_multiprocess_dir()
    Granian(
        target,
        address=rt.host,
        port=rt.port or default_port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        http1_settings=server_limits.granian_http1(),
        backlog=server_limits.BACKLOG,
        backpressure=server_limits.CONNECTIONS_PER_WORKER,
        workers=rt.workers,
        factory=True,
        log_access=False,
        respawn_failed_workers=True,
        # Open event streams would hold a shutdown forever; clients reconnect elsewhere.
        workers_kill_timeout=5,
        **granian_runtime(ApiServerSettings()),
    ).serve()


def granian_runtime(server: ApiServerSettings) -> dict[str, Any]:
    """granian's runtime options for the api. Tasks stay asyncio's: granian's Rust task
    implementation cost 10-20% less CPU a request here, but runs every request under one
    stand-in task whose `cancel()` does nothing, so `asyncio.timeout`, httpx's timeouts and
    the NATS link's abandonment never fire (a stalled Restate call would hold its request
    forever; tests/integration/test_api_server_runtime.py)."""
    return {
        "task_impl": TaskImpl.asyncio,
        "runtime_mode": RuntimeModes(server.api_runtime_mode),
        "runtime_threads": server.api_runtime_threads,
    }
