"""OpenTelemetry tracing, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Off, nothing is installed: no middleware, no span objects, no header injection; every
helper here returns at its first line. On, each process exports its spans over OTLP/HTTP
(protobuf) to that endpoint, and W3C `traceparent` headers join the processes: the api's
ingress call carries its span, Restate continues the trace (adding its own spans when its
`tracing-endpoint` is set) and hands it to the worker with each attempt.

The exporter reads the standard OTEL_* variables itself (headers, timeout, batch delay).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind

from drop.settings import TracingSettings

log = logging.getLogger("tracing")

_enabled = False


def enabled() -> bool:
    return _enabled


def setup(service: str, settings: TracingSettings | None = None) -> bool:
    """Install the exporting tracer provider for this process when an endpoint is set.
    Called once per process (each server worker process builds its own)."""
    global _enabled
    settings = settings or TracingSettings()
    if not settings.otel_exporter_otlp_endpoint or _enabled:
        return _enabled
    # Imported only when on: the SDK and exporter cost nothing to a process without them.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class LevelOneIds(RandomIdGenerator):
        # Random ids without saying so: the trace-context level-2 "random" flag makes the
        # traceparent's flags 03, which Restate's parser rejects (it accepts 00-02 for
        # version 00) and then starts a trace of its own instead of continuing ours.
        def is_trace_id_random(self) -> bool:
            return False

    name = settings.otel_service_name or f"drop-{service}"
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}), id_generator=LevelOneIds()
    )
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _enabled = True
    log.info("tracing: exporting spans to %s as %s", settings.otel_exporter_otlp_endpoint, name)
    return True


def _tracer() -> trace.Tracer:
    return trace.get_tracer("drop")


@contextlib.contextmanager
def _client_span(name: str, headers: dict[str, str]) -> Iterator[None]:
    with _tracer().start_as_current_span(name, kind=SpanKind.CLIENT):
        propagate.inject(headers)
        yield


def client_span(name: str, headers: dict[str, str]) -> contextlib.AbstractContextManager[Any]:
    """A client span around an outgoing call, its `traceparent` written into `headers`."""
    return _client_span(name, headers) if _enabled else contextlib.nullcontext()


def current() -> otel_context.Context | None:
    """The caller's trace context, to be carried to work done later on its behalf."""
    return otel_context.get_current() if _enabled else None


@contextlib.contextmanager
def _joined_span(name: str, contexts: Sequence[otel_context.Context]) -> Iterator[None]:
    links = [
        Link(span_context)
        for ctx in contexts
        if (span_context := trace.get_current_span(ctx).get_span_context()).is_valid
    ]
    with _tracer().start_as_current_span(name, context=contexts[0], links=links):
        yield


def joined_span(
    name: str, contexts: Sequence[otel_context.Context | None]
) -> contextlib.AbstractContextManager[Any]:
    """A span for work shared by several requests (a group commit): a child of the first
    request, linked to every one of them, so each request's trace finds the shared call."""
    carried = [c for c in contexts if c is not None]
    return _joined_span(name, carried) if _enabled and carried else contextlib.nullcontext()


def propagation_headers() -> dict[str, str]:
    """The current span's `traceparent` (and `tracestate`), for a call made on its behalf
    without a span of its own (the web's proxy); empty when tracing is off."""
    if not _enabled:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


NOT_TRACED = ("/health", "/ready", "/metrics")


def instrument_fastapi(app: Any, also_excluded: Sequence[str] = ()) -> None:
    """Server spans for every route (liveness, readiness, metrics and the paths in
    `also_excluded` left out: each a regular expression searched for in the URL),
    continuing a caller's `traceparent`."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=",".join((*NOT_TRACED, *also_excluded)),
        exclude_spans=["receive", "send"],
    )


def _invocation_name(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # restate calls `[/v/{version}]/invoke/{service}/{handler}`; the object's key is in the
    # body, not here.
    parts = str(scope.get("path", "")).strip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "invoke":
        service, handler = parts[-2], parts[-1]
        return f"{service}.{handler}", {"restate.service": service, "restate.handler": handler}
    return str(scope.get("path", "")), {}


def instrument_restate(app: Any) -> Any:
    """One server span per invocation attempt Restate sends the worker, a child of the
    `traceparent` Restate sends with it (the api's call, or Restate's own span)."""
    if not _enabled:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls="/health,/discover,/metrics",
        default_span_details=_invocation_name,
        exclude_spans=["receive", "send"],
    )


def log_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, as hex, for log lines."""
    if not _enabled:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)
