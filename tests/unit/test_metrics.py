"""The metrics plumbing: bounded drop labels, route templates and methods as labels."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from apps.api.app import create_app
from drop.metrics import ActiveLabels, HttpMetrics, exposition, method_label


def test_drop_labels_keep_only_the_most_recently_active_drops() -> None:
    counter = Counter("t_total", "test", ["drop"], registry=CollectorRegistry())
    labels = ActiveLabels([counter], limit=2)
    for drop in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        counter.labels(labels(drop)).inc()
    kept = {s.labels["drop"]: s.value for s in counter.collect()[0].samples if s.name == "t_total"}
    assert kept == {"a": 2.0, "c": 1.0}


async def test_requests_are_labelled_by_route_template_never_by_raw_path() -> None:
    app = FastAPI()

    @app.get("/drop/{drop_id}")
    async def page(drop_id: str) -> dict[str, str]:
        return {"id": drop_id}

    app.add_middleware(HttpMetrics, service="unit", routes=lambda: app.routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/drop/secret-id-1")).status_code == 200
        assert (await client.get("/nowhere/secret-id-2")).status_code == 404
        # Served on the private port only (drop.metrics.serve_private).
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.request("BREW", "/drop/x")).status_code == 405
    text = exposition()[0].decode()
    assert 'route="/drop/{drop_id}",service="unit",status="200"' in text
    assert 'route="unmatched",service="unit",status="404"' in text
    assert 'method="other",route="/drop/{drop_id}",service="unit",status="405"' in text
    assert "secret-id" not in text and "BREW" not in text


def test_only_standard_methods_are_labels() -> None:
    assert [method_label(m) for m in ("GET", "DELETE", "get", "BREW", "X" * 60_000)] == [
        "GET",
        "DELETE",
        "other",
        "other",
        "other",
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_metrics_enabled_decides_whether_requests_are_instrumented(
    monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    monkeypatch.setenv("METRICS_ENABLED", str(enabled).lower())
    app = create_app()
    installed = [m.cls for m in app.user_middleware]  # type: ignore[attr-defined]
    assert (HttpMetrics in installed) is enabled
