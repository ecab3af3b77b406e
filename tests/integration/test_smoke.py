"""The whole durable path: Restate ingress → worker handler → JetStream publish."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_handler_invoked_through_ingress_publishes_to_nats(stack: Stack, bus: Bus) -> None:
    message = f"hello-{uuid.uuid4().hex}"
    sub = await bus.nc.subscribe("system.echo")
    try:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as client:
            response = await client.post("/Diagnostics/echo", json=message)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["seq"] >= 1
        while True:
            msg = await asyncio.wait_for(sub.next_msg(timeout=10), timeout=10)
            event = json.loads(msg.data)
            if event["data"]["message"] == message:
                break
        assert event["id"] == answer["id"]
        assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == answer["id"]
    finally:
        await sub.unsubscribe()
