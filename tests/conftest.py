"""Fixtures that start the real servers: one stack per test session, on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi
from tests.support.stack import Stack

# `make test` runs the files on two pytest-xdist workers, one whole file at a time each, in
# this order: the longest first (seconds measured on a loaded 2-core machine), so that no
# long file is left to run alone at the end. Files not listed follow in their usual order.
LONGEST_FILES = (
    "tests/integration/test_webhooks.py",  # 180 s: an endpoint down for two minutes
    "tests/integration/test_replay.py",  # 170 s
    "tests/e2e/test_journey.py",  # 110 s
    "tests/integration/test_crashes.py",  # 105 s
    "tests/integration/test_mail.py",  # 75 s
    "tests/e2e/test_mail_link.py",  # 60 s
    "tests/e2e/test_sizes_journey.py",  # 55 s
    "tests/integration/test_admin_auth.py",  # 50 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
