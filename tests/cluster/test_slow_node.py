"""Winners buy within seconds while the NATS node their api is connected to is degraded,
slowed (its link throttled) or paused (SIGSTOP: connections open, nothing answered). The
node is the one the api names in /health, so without leaving slow nodes every run fails,
not one in three. Figures are printed (run with -s) and recorded in docs/cluster.md."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import nats.errors
import pytest

from devtools.clusterstack import Cluster
from drop.adapters.nats_bus import Bus
from tests.cluster.buying import BUY_BUDGET_S, Buyers
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.eventually import eventually_async

pytestmark = pytest.mark.cluster

PEOPLE = 10
INVENTORY = 5
APP = "api1"
# Slow enough that requests through the node time out, fast enough that pings get through.
SLOW_KBIT = 8


@contextmanager
def degraded(cluster: Cluster, how: str, node: str) -> Iterator[None]:
    assert cluster.bridge is not None
    bridge = cluster.bridge
    faults: dict[str, tuple[Callable[[str], None], Callable[[str], None]]] = {
        "throttled": (lambda n: bridge.slow(n, SLOW_KBIT), bridge.unslow),
        "paused": (cluster.pause, cluster.resume),
    }
    start, end = faults[how]
    start(node)
    try:
        yield
    finally:
        end(node)


async def sold_out(
    api: DropApi, drop_id: str, timeout: float = 30.0
) -> tuple[dict[str, Any], float]:
    """The drop's status once the api's drops index shows no inventory left, and how long
    that took: the index is a mirror fed by a KV watch, which catches up after the api
    moved to another node (its ordered consumer starts again)."""
    began = time.monotonic()
    while True:
        status = await api.status(drop_id)
        waited = time.monotonic() - began
        if status["inventory"] == 0 or waited > timeout:
            return status, waited
        await asyncio.sleep(0.25)  # polling the mirror, not a synchronisation


async def _every_stream_led_and_current(bus: Bus) -> None:
    unsettled = []
    for info in await bus.js.streams_info():
        cluster = info.cluster
        replicas = (cluster.replicas or []) if cluster else []
        lagging = [r.name for r in replicas if not r.current or r.offline]
        if cluster is None or not cluster.leader or lagging:
            unsettled.append((info.config.name, cluster.leader if cluster else None, lagging))
    assert not unsettled, f"streams without a leader or with replicas behind: {unsettled}"


async def jetstream_settled(bus: Bus) -> None:
    """Every stream has a leader and every replica is current again. After the previous
    fault a node that was cut off rejoins with a higher Raft term and makes the leaders step
    down (seen in the nats logs: "Detected another leader with higher term", then "NO
    quorum, stalled"); until the elections end, the api's guards fail closed with 503."""
    await eventually_async(
        lambda: _every_stream_led_and_current(bus),
        what="every JetStream stream led, with its replicas current, after the previous fault",
        timeout=90,
        interval=0.5,
        retry_on=(nats.errors.TimeoutError, nats.errors.ConnectionReconnectingError),
    )


async def _nothing_led_by(bus: Bus, node: str) -> None:
    led = [
        i.config.name for i in await bus.js.streams_info() if i.cluster and i.cluster.leader == node
    ]
    for stream in led:
        await bus.nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", b"", timeout=5)
    assert not led, f"streams still led by {node}: {led}"


async def leaders_moved_off(bus: Bus, node: str) -> None:
    """No stream is led by `node`. A throttled node keeps leading its streams (its
    heartbeats still get through), and a client cannot fix a slow leader (docs/cluster.md,
    "Where the seconds go"): purchases then wait on it from any node for as long as the
    throttle lasts. This test is about the api leaving its slow node, so its streams' leaders
    are moved first, as an operator would (`nats stream cluster step-down`)."""
    await eventually_async(
        lambda: _nothing_led_by(bus, node),
        what=f"every stream's leader moved off {node}",
        timeout=60,
        interval=1.0,
        retry_on=(nats.errors.TimeoutError, nats.errors.NoRespondersError),
    )
    await jetstream_settled(bus)


@pytest.mark.parametrize("how", ["throttled", "paused"])
async def test_winners_buy_while_the_api_s_nats_node_is_degraded(
    cluster: Cluster, cluster_bus: Bus, how: str
) -> None:
    await jetstream_settled(cluster_bus)
    drop_id = uid(f"slow-{how}")
    async with httpx.AsyncClient(base_url=cluster.url(APP), timeout=30) as client:
        api = DropApi(client)
        await api.create(
            drop_id, inventory=INVENTORY, registrationEnd=now_ms() + 6000, purchaseWindow=120
        )
        people = [uid("p") for _ in range(PEOPLE)]
        answers = await asyncio.gather(
            *(
                api.register(drop_id, p, 1, headers={"X-Forwarded-For": f"10.95.0.{i + 1}"})
                for i, p in enumerate(people)
            )
        )
        refused = [(r.status_code, r.text[:300]) for r in answers if r.status_code != 200]
        assert not refused, refused
        await api.draw_after_close(cluster_bus, drop_id)
        winners = list((await api.proof(drop_id))["proof"]["winners"])
        assert len(winners) == INVENTORY

        node = await asyncio.to_thread(cluster.nats_node_of, APP)
        # Both cases: a paused leader's streams wait for an election, which on a slow
        # machine (after the fault test's partitions) took 20-24 s in 2 of 9 runs, with
        # every winner waiting on it together; that is Raft, not the api leaving its node.
        await leaders_moved_off(cluster_bus, node.name)
        buyers = Buyers(client, drop_id, api.sessions)
        began = time.monotonic()
        with degraded(cluster, how, node.name):
            bought = await buyers.buy_all(winners)
            took_s = time.monotonic() - began
        await asyncio.to_thread(cluster.wait_nats, node, 120.0)
        moved_to = (await asyncio.to_thread(cluster.nats_node_of, APP)).name
        status, index_lag_s = await sold_out(api, drop_id)

    figures = {
        "fault": how,
        "node": node.name,
        "api_moved_to": moved_to,
        "purchases_ok": bought.count(200),
        "all_bought_s": round(took_s, 2),
        **buyers.figures(),
        "inventory_left": status["inventory"],
        "index_lag_s": round(index_lag_s, 2),
    }
    print(f"\nslow node figures ({how}):", json.dumps(figures))
    assert bought == [200] * INVENTORY, figures
    assert status["inventory"] == 0, figures
    assert figures["slowest_buy_s"] <= BUY_BUDGET_S, figures
