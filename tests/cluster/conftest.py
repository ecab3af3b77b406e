"""One local cluster per test session, every engine node in its own network namespace."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.clusterstack import Cluster
from devtools.netns import Bridge
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus

# What tests/support/stack.py gives a single-node stack, with the rate limits on: they are
# per-process state that must hold across the two api replicas.
ENV = {
    "DROP_ENV": "test",
    "ADMIN_SECRET": "test-admin-secret",
    "PURCHASE_TOKEN_SECRET": "test-purchase-secret",
    "IP_HASH_SALT": "test-salt",
    "LOG_LEVEL": "INFO",
    "MIN_PURCHASE_WINDOW": "1",
    "QUEUE_ENABLED": "false",
    "SKIP_RATE_LIMIT": "false",
    "RATE_LIMIT_REGISTER": "5",
    "BOT_CHECK_ENABLED": "false",
}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env = {**ENV, "RECEIPT_SIGNING_KEY": secrets.token_hex(32)}
    c = Cluster(tmp_path_factory.mktemp("cluster"), env=env, bridge=Bridge())
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
async def cluster_bus(cluster: Cluster) -> AsyncIterator[Bus]:
    bus = await nats_bus.connect(
        cluster.nats_url,
        "cluster-tests",
        user=cluster.auth.nats_user,
        password=cluster.auth.nats_password,
        replicas=3,
    )
    yield bus
    await bus.close()
