"""Each service's /metrics after a small drop, checked against what happened."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.metrics import scrape, total, value
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_a_small_drop_is_counted_on_every_service(
    api: DropApi, bus: Bus, stack: Stack
) -> None:
    sse_url, web_url = stack.start_app("sse"), stack.start_app("web")
    api_metrics, sse_metrics = stack.metrics_url("api"), stack.metrics_url("sse")
    drop_id = uid("metrics")
    users = [uid(f"m{i}") for i in range(12)]
    api_before = await scrape(api_metrics)
    register_route = {"service": "api", "route": "/api/drop/{dropId}/register", "method": "POST"}

    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=3, registrationEnd=now_ms() + 4000, purchaseWindow=4)
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"{sse_url}/events/{drop_id}/{users[0]}") as stream,
        ):
            assert stream.status_code == 200
            sse_open = await scrape(sse_metrics)
            answers = await asyncio.gather(*(api.register(drop_id, u, 2) for u in users))
            assert all(r.status_code == 200 for r in answers)
            again = await api.register(drop_id, users[1], 2)
            assert again.status_code == 409
            await log.phase(drop_id, "purchase", timeout=30)
            winners = (await api.proof(drop_id))["proof"]["winners"]
            for winner in winners[:2]:
                await api.buy(drop_id, winner)
            # Our stream saw the state changes, so the sse fanned them out to it.
            sse_after = await scrape(sse_metrics)
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(f"{web_url}/drop/{drop_id}")
        assert page.status_code == 200

    worker = await scrape(stack.metrics_url("worker"))
    assert value(worker, "registrations_total", drop=drop_id) == len(users)
    assert value(worker, "draws_total", drop=drop_id) == 1
    assert value(worker, "winners_total", drop=drop_id) == len(winners) == 3
    assert value(worker, "purchases_total", drop=drop_id) == 2

    api_after = await scrape(api_metrics)
    ok = {**register_route, "status": "200"}
    assert value(api_after, "http_requests_total", **ok) - value(
        api_before, "http_requests_total", **ok
    ) == len(users)
    refused = {**register_route, "status": "409"}
    assert value(api_after, "http_requests_total", **refused) >= 1
    assert value(api_after, "api_refusals_total", reason="already_registered") >= 1
    assert (
        value(api_after, "http_request_duration_seconds_count", **register_route) >= len(users) + 1
    )
    batches = total(api_after, "durable_call_duration_seconds_count", handler="Drop.registerBatch")
    assert batches >= 1
    # Route templates only: no raw path (which carries ids) ever becomes a label.
    labels = " ".join(str(ls) for (_, ls) in api_after)
    assert drop_id not in labels and users[0] not in labels

    assert value(sse_open, "sse_open_streams") >= 1
    assert total(sse_after, "sse_events_fanned_out_total", feed="events") > total(
        sse_open, "sse_events_fanned_out_total", feed="events"
    )
    stream_route = {"service": "sse", "route": "/events/{drop_id}/{user_id}", "method": "GET"}
    assert value(sse_after, "http_requests_total", **stream_route, status="200") >= 1

    web = await scrape(stack.metrics_url("web"))
    assert (
        value(
            web,
            "http_requests_total",
            service="web",
            route="/drop/{drop_id}",
            method="GET",
            status="200",
        )
        >= 1
    )


async def test_queue_joins_admissions_and_expiries_are_counted(stack: Stack) -> None:
    drop_id = uid("mq")
    config = {"rate": 50, "maxConcurrent": 10, "readyWindowS": 1, "maxAgeS": 600}
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as ingress:
        for n in range(3):
            body = {"fingerprintHash": f"{n:032x}", "ipHash": f"{n + 7:032x}", "config": config}
            r = await ingress.post(f"/QueueAdmission/{drop_id}/joinQueue", json=body)
            assert r.status_code == 200, r.text

        async def expired() -> Any:
            worker = await scrape(stack.metrics_url("worker"))
            found = value(worker, "queue_expiries_total", drop=drop_id)
            assert found >= 3, f"{found} expiries counted"
            return worker

        worker = await eventually_async(
            expired, what="three ready tokens expiring", timeout=20, interval=0.2
        )
    assert value(worker, "queue_joins_total", drop=drop_id) == 3
    assert value(worker, "queue_admissions_total", drop=drop_id) == 3
    assert value(worker, "queue_expiries_total", drop=drop_id) == 3


async def test_metrics_are_private_and_their_labels_a_closed_set(
    api: DropApi, stack: Stack
) -> None:
    """`/metrics` is answered on METRICS_PORT only; made-up methods and paths add no series."""
    names = ("api", "sse", "web", "worker")
    publics = {name: stack.start_app(name) for name in names}
    async with httpx.AsyncClient(timeout=30) as client:
        for name, public in publics.items():
            public_answer = await client.get(f"{public}/metrics")
            # 404 (the worker: 401, as for any call restate did not sign).
            assert public_answer.status_code in (401, 404), name
            assert "# TYPE" not in public_answer.text, name
            private = await client.get(f"{stack.metrics_url(name)}/metrics")
            assert private.status_code == 200 and "http_requests_total" in private.text, name
            assert (await client.get(f"{stack.metrics_url(name)}/other")).status_code == 404
        before = await scrape(stack.metrics_url("api"))
        for n in range(40):
            await client.request(f"M{n}{'X' * 2000}", f"{publics['api']}/api/drops/active")
            await client.get(f"{publics['api']}/api/made-up/{uid('path')}")
    after = await scrape(stack.metrics_url("api"))
    methods = {dict(ls)["method"] for (n, ls) in after if n == "http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert (
        total(after, "http_requests_total", method="other")
        - total(before, "http_requests_total", method="other")
        == 40
    )
    routes = {dict(ls)["route"] for (n, ls) in after if n == "http_requests_total"}
    assert not any("made-up" in route for route in routes), routes
    # Two label sets at most (method "other", route "unmatched": ~20 samples each with the
    # latency buckets), where one per call would be 80 label sets.
    assert len(after) - len(before) <= 40
