"""Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT): nothing is installed, nothing is added."""

from __future__ import annotations

import pytest

from apps.api.app import create_app
from apps.web.app import create_app as create_web_app
from drop import tracing
from drop.settings import TracingSettings


@pytest.fixture(autouse=True)
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)


def test_without_an_endpoint_tracing_stays_off() -> None:
    assert tracing.setup("api", TracingSettings()) is False
    assert tracing.enabled() is False


def test_off_adds_no_middleware_and_no_headers() -> None:
    app = create_app()
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    headers: dict[str, str] = {}
    with tracing.client_span("Drop.registerBatch", headers):
        pass
    assert headers == {}
    assert tracing.current() is None
    assert tracing.propagation_headers() == {}
    assert tracing.log_ids() is None
    worker_app = object()
    assert tracing.instrument_restate(worker_app) is worker_app


def test_off_the_web_adds_no_middleware() -> None:
    app = create_web_app()
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
