"""The api with several server processes: /metrics sums what every process counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.metrics import scrape, value
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration

WAVE, MAX_WAVES = 20, 50


def counting(shared: Path) -> set[str]:
    """Process ids that have written counters to the shared directory."""
    return {f.stem.rpartition("_")[2] for f in shared.glob("counter_*.db")}


async def test_counters_sum_across_the_apis_processes(stack: Stack, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    # A former run's file: the server empties the directory before its processes start.
    (shared / "counter_1.db").write_bytes(b"stale")
    env = {"WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    url, proc = start_api(stack, "api-2-processes", env)
    try:
        sent = 0
        # New connections per request, in waves until both processes have counted some
        # (the second may still be starting when the first answers).
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            for _ in range(MAX_WAVES):
                wave = [client.get("/api/drops/active") for _ in range(WAVE)]
                answers = await asyncio.gather(*wave)
                assert all(r.status_code == 200 for r in answers)
                sent += WAVE
                if len(counting(shared)) >= 2:
                    break
        assert "1" not in counting(shared)
        assert len(counting(shared)) >= 2, f"one process took every request: {counting(shared)}"
        samples = await scrape(stack.metrics_url("api-2-processes"))
        route = {"service": "api", "route": "/api/drops/active", "method": "GET", "status": "200"}
        assert value(samples, "http_requests_total", **route) == sent
    finally:
        proc.stop()
