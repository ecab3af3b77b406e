"""Prometheus metrics shared by every service: HTTP requests per route template, NATS
reconnects, durable-call latency, and the exposition served at `/metrics` on a private
port of its own (METRICS_PORT), never on the public one.

Every label comes from a closed set: route templates (never the raw path), the standard
methods (anything else is "other"), status codes, service names. A label a client could
choose would let it grow the registry without bound.

Each process keeps its own registry. With one server process per service (the default,
`WORKERS=1`) that is exact. A multi-process server (the api with `WORKERS>1`) must set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory shared by its processes; `/metrics` then
sums what every process wrote there (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from drop.settings import MetricsSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("metrics")

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# Latency buckets (seconds) from a cached read to a slow durable call.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its response start (streams: until they open)",
    ["service", "route", "method"],
    buckets=LATENCY_BUCKETS,
)
NATS_RECONNECTS = Counter(
    "nats_reconnects_total", "Reconnections of this process's NATS client", ["client"]
)
DURABLE_CALLS = Histogram(
    "durable_call_duration_seconds",
    "Latency of calls through Restate's ingress, by handler and outcome",
    ["handler", "outcome"],
    buckets=LATENCY_BUCKETS,
)


class ActiveLabels:
    """A label (the drop id) kept to a bounded set of values: the `limit` most recently
    used. A new value past the limit evicts the least recently used one, and every series
    carrying it is removed from `counters`, so the registry stays bounded however many
    drops a long-lived process sees. Never used for user ids."""

    def __init__(self, counters: Iterable[Counter], limit: int = 50) -> None:
        self.counters, self.limit = tuple(counters), limit
        self._recent: OrderedDict[str, None] = OrderedDict()

    def __call__(self, value: str) -> str:
        if value in self._recent:
            self._recent.move_to_end(value)
            return value
        self._recent[value] = None
        if len(self._recent) > self.limit:
            old, _ = self._recent.popitem(last=False)
            for counter in self.counters:
                with contextlib.suppress(KeyError):
                    counter.remove(old)
        return value


def exposition() -> tuple[bytes, str]:
    """The text format of every metric of this process (or of all processes sharing
    `PROMETHEUS_MULTIPROC_DIR`)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def clear_multiprocess_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR before a server spawns its processes: files a former
    run left would otherwise be added to this run's counts."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink(missing_ok=True)


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _MetricsServer6(_MetricsServer):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def _metrics_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("PATH_INFO") != METRICS_PATH or environ.get("REQUEST_METHOD") != "GET":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    body, content_type = exposition()
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    start_response("200 OK", headers)
    return [body]


def serve_private(
    service: str, host: str, settings: MetricsSettings | None = None, *, shared: bool = False
) -> WSGIServer | None:
    """Answer `GET /metrics` on METRICS_PORT from a thread of this process (none when
    METRICS_ENABLED is false). `shared`: other processes of the same server may hold the
    port already; any of them answers for all (PROMETHEUS_MULTIPROC_DIR), so a taken port
    is not an error. Otherwise a taken port is a configuration error and stops the start."""
    settings = settings or MetricsSettings()
    if not settings.metrics_enabled:
        return None
    server_class = _MetricsServer6 if ":" in host else _MetricsServer
    try:
        server = server_class((host, settings.metrics_port), _Quiet)
    except OSError as exc:
        if shared:
            log.info("%s: metrics port %s served by a sibling process", service, exc)
            return None
        raise SystemExit(f"{service}: METRICS_PORT {settings.metrics_port}: {exc}") from None
    server.set_app(_metrics_wsgi)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def _route_paths(routes: Iterable[Any]) -> dict[int, str]:
    """Endpoint identity → route template, for routes that do not put themselves in the
    scope (plain Starlette routes and mounts)."""
    paths: dict[int, str] = {}
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        for target in (getattr(route, "endpoint", None), getattr(route, "app", None)):
            if target is not None:
                paths.setdefault(id(target), path or "/")
    return paths


class HttpMetrics:
    """Counts and times every request by route template (never the raw path, which holds
    ids) and standard method."""

    def __init__(self, app: App, service: str, routes: Callable[[], Iterable[Any]]) -> None:
        self.app, self.service, self._routes = app, service, routes
        self._paths: dict[int, str] | None = None
        # (route, method, status) -> its series; a closed set (see the module's doc).
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if self._paths is None:
            self._paths = _route_paths(self._routes())
        return self._paths.get(id(endpoint), UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        async def measured(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self._record(scope, int(message["status"]), time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, measured)
        except BaseException:
            if not recorded:
                self._record(scope, 500, time.perf_counter() - started)
            raise

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        key = (self._template(scope), method_label(scope["method"]), status)
        series = self._series.get(key)
        if series is None:
            route, method, _ = key
            series = self._series[key] = (
                HTTP_REQUESTS.labels(self.service, route, method, str(status)),
                HTTP_LATENCY.labels(self.service, route, method),
            )
        requests, latency = series
        requests.inc()
        latency.observe(seconds)


def instrument_http(app: Any, service: str, settings: MetricsSettings | None = None) -> None:
    """Count every request of a Starlette/FastAPI `app` (outermost middleware: call after
    the others), unless METRICS_ENABLED is false."""
    if (settings or MetricsSettings()).metrics_enabled:
        app.add_middleware(HttpMetrics, service=service, routes=lambda: app.routes)


def reconnected(client: str) -> None:
    NATS_RECONNECTS.labels(client).inc()
