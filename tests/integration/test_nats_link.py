"""drop/adapters/nats_link.py's requests against a real nats-server: answered, timed out or
cancelled, each ends as nats-py's own request would and leaves nothing waiting behind."""

from __future__ import annotations

import asyncio
import time

import nats.errors
import pytest
from nats.aio.msg import Msg

from drop.adapters.nats_bus import Bus
from tests.support.api_client import uid

pytestmark = pytest.mark.integration


async def test_many_requests_at_once_each_get_their_own_answer(bus: Bus) -> None:
    subject = uid("echo")

    async def echo(msg: Msg) -> None:
        await msg.respond(b"re:" + msg.data)

    sub = await bus.nc.subscribe(subject, cb=echo)
    try:
        answers = await asyncio.gather(
            *(bus.nc.request(subject, str(i).encode(), timeout=5) for i in range(200))
        )
    finally:
        await sub.unsubscribe()
    assert [a.data for a in answers] == [f"re:{i}".encode() for i in range(200)]
    assert bus.nc._resp_map == {}


async def test_an_unanswered_request_times_out_at_its_timeout(bus: Bus) -> None:
    subject = uid("silent")
    sub = await bus.nc.subscribe(subject)  # a responder that never answers
    try:
        began = time.monotonic()
        with pytest.raises(nats.errors.TimeoutError):
            await bus.nc.request(subject, b"", timeout=0.3)
        assert 0.25 <= time.monotonic() - began < 2
    finally:
        await sub.unsubscribe()
    assert bus.nc._resp_map == {}


async def test_a_cancelled_request_is_cancelled_not_timed_out(bus: Bus) -> None:
    subject = uid("silent")
    arrived = asyncio.Event()

    async def hear(_msg: Msg) -> None:
        arrived.set()  # and never answer

    sub = await bus.nc.subscribe(subject, cb=hear)
    try:
        waiting = asyncio.ensure_future(bus.nc.request(subject, b"", timeout=30))
        await arrived.wait()
        assert bus.nc._resp_map
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await sub.unsubscribe()
    assert bus.nc._resp_map == {}


async def test_a_request_nobody_listens_to_says_so(bus: Bus) -> None:
    with pytest.raises(nats.errors.NoRespondersError):
        await bus.nc.request(uid("nobody"), b"", timeout=5)
