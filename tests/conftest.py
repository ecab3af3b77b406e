"""Fixtures that start the real servers: one stack per test session, on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stack")
    s = Stack(root)
    try:
        s.start_servers()
        s.start_app("worker")
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
async def bus(stack: Stack) -> AsyncIterator[Bus]:
    b = await stack.connect_bus("tests")
    yield b
    await b.close()


@pytest.fixture(scope="session")
async def api(stack: Stack) -> AsyncIterator[DropApi]:
    base = stack.start_app("api")
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        yield DropApi(client)


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """nats, restate and the beacon of its own, no apps: for tests that register workers
    themselves (the session's restate has its worker registered already)."""
    s = Stack(tmp_path)
    try:
        s.start_servers()
        yield s
    finally:
        s.stop()
