"""State that lives in one process stays right with two replicas of each app, and every
stream and bucket is kept on three NATS servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.clusterstack import Cluster
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, now_ms, uid

pytestmark = pytest.mark.cluster


async def test_every_stream_bucket_and_store_has_three_replicas(cluster_bus: Bus) -> None:
    names = [name for name, _, _ in nats_bus.STREAMS]
    names += [f"KV_{bucket}" for bucket, _ in nats_bus.BUCKETS]
    names.append("OBJ_proofs")
    replicas = {n: (await cluster_bus.js.stream_info(n)).config.num_replicas for n in names}
    assert set(replicas.values()) == {3}, replicas


async def create_drop(client: httpx.AsyncClient, drop_id: str) -> None:
    await DropApi(client).create(
        drop_id, inventory=3, registrationEnd=now_ms() + 120_000, purchaseWindow=60
    )


async def test_one_idempotency_key_sent_to_both_api_replicas_registers_once(
    cluster: Cluster,
) -> None:
    drop_id, user = uid("idem"), uid("u")
    async with (
        httpx.AsyncClient(base_url=cluster.url("api1"), timeout=60) as one,
        httpx.AsyncClient(base_url=cluster.url("api2"), timeout=60) as two,
    ):
        await create_drop(one, drop_id)
        headers = {"Idempotency-Key": "same-key", "X-Forwarded-For": "10.99.0.1"}
        body = {"userId": user, "tickets": 3}
        path = f"/api/drop/{drop_id}/register"
        first = await one.post(path, json=body, headers=headers)
        assert first.status_code == 200, first.text
        # Replayed on the other replica: the answer the first one stored, nothing new.
        session = {"Authorization": f"Bearer {first.headers['x-session-token']}"}
        again = await two.post(path, json=body, headers={**headers, **session})
        minted = {"recoveryCode"}  # a replay never hands out the secret again
        assert again.status_code == 200, again.text
        assert again.json() == {k: v for k, v in first.json().items() if k not in minted}
        # Two copies of another user's call at once, one on each replica: one registration
        # (the copy that loses the race is refused, never counted twice).
        other = {"userId": uid("u"), "tickets": 2}
        racing = {"Idempotency-Key": "racing-key", "X-Forwarded-For": "10.99.0.2"}
        both = await asyncio.gather(
            one.post(path, json=other, headers=racing), two.post(path, json=other, headers=racing)
        )
        assert 200 in {r.status_code for r in both}, [r.text for r in both]
        assert all(r.status_code in (200, 403) for r in both), [r.text for r in both]

        async def counted() -> int:
            status = (await one.get(f"/api/drop/{drop_id}/status")).json()
            return int(status["participantCount"])

        assert await counted() == 2


async def test_the_rate_limit_is_shared_by_both_api_replicas(cluster: Cluster) -> None:
    drop_id = uid("rate")
    address = "10.98.7.6"
    async with (
        httpx.AsyncClient(base_url=cluster.url("api1"), timeout=60) as one,
        httpx.AsyncClient(base_url=cluster.url("api2"), timeout=60) as two,
    ):
        await create_drop(one, drop_id)
        path = f"/api/drop/{drop_id}/register"
        answers = await asyncio.gather(
            *(
                (one, two)[n % 2].post(
                    path,
                    json={"userId": uid("r"), "tickets": 1},
                    headers={"X-Forwarded-For": address},
                )
                for n in range(12)
            )
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 5 + [429] * 7, [r.text for r in answers]
