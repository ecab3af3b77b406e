"""`/ready` on sse and web names each dependency and whether it answers; `/health` stays
200 whatever the dependencies do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devtools import devstack
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@contextmanager
def lone_app(name: str, stack: Stack, root: Path, **env: str) -> Iterator[str]:
    """`name` started outside the shared stack, with some dependencies moved to a dead port."""
    port = devstack.free_port()
    proc = devstack.app_proc(name, port, {**stack.app_env(), **env}, root / f"{name}.log")
    proc.start()
    try:
        devstack.wait_http(f"http://127.0.0.1:{port}/health", name)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def dead() -> str:
    return f"http://127.0.0.1:{devstack.free_port()}"


def test_sse_and_web_are_ready_when_their_dependencies_answer(stack: Stack) -> None:
    stack.start_app("api")
    for name in ("sse", "web"):
        stack.start_app(name)
    sse = httpx.get(f"{stack.url('sse')}/ready", timeout=10)
    assert sse.status_code == 200, sse.text
    assert sse.json() == {"ready": True, "nats": "ok", "feeds": "ok"}
    web = httpx.get(f"{stack.url('web')}/ready", timeout=10)
    assert web.status_code == 200, web.text
    assert web.json() == {"ready": True, "api": "ok", "sse": "ok"}


def test_sse_without_nats_is_live_but_not_ready(stack: Stack, tmp_path: Path) -> None:
    nowhere = f"nats://127.0.0.1:{devstack.free_port()}"
    with lone_app("sse", stack, tmp_path, NATS_URL=nowhere) as url:
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        r = httpx.get(f"{url}/ready", timeout=10)
        assert r.status_code == 503
        assert r.json() == {"ready": False, "nats": "unreachable", "feeds": "starting"}


def test_web_without_the_api_is_live_but_not_ready(stack: Stack, tmp_path: Path) -> None:
    stack.start_app("sse")
    with lone_app("web", stack, tmp_path, INTERNAL_API_URL=dead()) as url:
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        r = httpx.get(f"{url}/ready", timeout=10)
        assert r.status_code == 503
        assert r.json() == {"ready": False, "api": "unreachable", "sse": "ok"}
