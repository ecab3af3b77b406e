"""The api's granian runtime (drop.serve.granian_runtime) keeps asyncio's deadlines.

granian's Rust task implementation costs less CPU a request, but runs every request under
one stand-in task whose `cancel()` does nothing: `asyncio.timeout`, httpx's timeouts and
the NATS link's abandonment would never fire, and a stalled Restate call would hold its
request forever (docs/benchmarks.md, "The api's server runtime").
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from granian.constants import RuntimeModes, TaskImpl

from devtools.procs import Proc, base_env, free_port, http_ok, wait_until
from drop import serve
from drop.settings import ApiServerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = Proc(
        "deadline-app",
        [sys.executable, "-m", "tests.support.deadline_app", str(port)],
        base_env(),
        tmp_path / "deadline-app.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/ready"), 30, "the deadline app")
        yield url
    finally:
        proc.stop()


def test_a_deadline_inside_a_request_fires(server: str) -> None:
    answer = httpx.get(f"{server}/deadline", timeout=10)
    assert answer.text == "deadline fired"


def test_the_settings_reach_granian(monkeypatch: pytest.MonkeyPatch) -> None:
    assert serve.granian_runtime(ApiServerSettings())["task_impl"] is TaskImpl.asyncio
    monkeypatch.setenv("API_RUNTIME_MODE", "st")
    monkeypatch.setenv("API_RUNTIME_THREADS", "2")
    runtime = serve.granian_runtime(ApiServerSettings())
    assert runtime["runtime_mode"] is RuntimeModes.st
    assert runtime["runtime_threads"] == 2
