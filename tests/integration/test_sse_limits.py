"""The SSE service's input limits: Last-Event-ID, replay size, streams per client address."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from drop.settings import SseSettings
from tests.integration.test_sse import (
    connections_become,
    new_id,
    open_stream,
    publish_state,
    publish_user,
    serve,
    sse_app,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


NOT_OURS = ["9" * 4301, "1" * 21, str(2**64), "-5", "١٢٣", "12a", "0x10", "1.5"]


async def test_a_last_event_id_that_is_not_a_sequence_gets_a_fresh_snapshot(
    stack: Stack, bus: Bus
) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    await publish_user(bus, drop_id, user_id, 1, tickets=3)
    path = f"/events/{drop_id}/{user_id}"
    async with serve(sse_app(stack)) as base:
        for value in NOT_OURS:
            async with open_stream(base, f"{path}?lastEventId={quote(value)}") as s:
                connected, user = await s.take(2)
            assert (connected.event, user.event) == ("connected", "user"), value
            assert user.data["tickets"] == 3
            if value.isascii():  # as EventSource sends it
                async with open_stream(base, path, {"last-event-id": value}) as s:
                    assert [e.event for e in await s.take(2)] == ["connected", "user"]


async def test_replay_per_connect_is_bounded_by_default(stack: Stack, bus: Bus) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    async with serve(sse_app(stack)) as base:
        path = f"/events/{drop_id}/{user_id}"
        async with open_stream(base, path) as s:
            first = (await s.take(2))[0]
        missed = SseSettings().sse_replay_limit + 1
        await asyncio.gather(
            *(publish_user(bus, drop_id, user_id, n + 1, tickets=n) for n in range(missed))
        )
        async with open_stream(base, path, {"last-event-id": first.id or ""}) as s:
            connected, user = await s.take(2)
            assert (connected.event, user.event) == ("connected", "user")
            assert user.data["version"] == missed


async def test_one_client_address_cannot_hold_every_stream(stack: Stack, bus: Bus) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 1)
    one, other = {"x-forwarded-for": "203.0.113.7"}, {"x-forwarded-for": "198.51.100.9"}
    async with serve(sse_app(stack, sse_max_streams_per_ip=2)) as base:
        async with (
            open_stream(base, "/events/drops", one),
            open_stream(base, f"/events/{drop_id}/u", one),
        ):
            async with httpx.AsyncClient(base_url=base) as client:
                refused = await client.get("/events/drops", headers=one)
                assert refused.status_code == 429, refused.text
                assert refused.headers["retry-after"] == "5"
                assert refused.json()["code"] == "too_many_streams"
            async with open_stream(base, "/events/drops", other) as s:
                assert (await s.next()).event == "drops"
        await connections_become(base, 0, timeout=5)  # the slots come back as streams end
        async with open_stream(base, "/events/drops", one) as s:
            assert (await s.next()).event == "drops"
