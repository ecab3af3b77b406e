"""Fairness against the operator, on the real stack: no draw before registration closes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import ADMIN, DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def ingress(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as client:
        yield client


async def test_an_early_draw_is_refused_by_the_api_and_by_ingress(
    api: DropApi, bus: Bus, ingress: httpx.AsyncClient
) -> None:
    drop_id = uid("early")
    await api.create(drop_id, inventory=1, registrationEnd=now_ms() + 3000, purchaseWindow=60)
    assert (await api.register(drop_id, uid("u"), 1)).status_code == 200
    early = await api.client.post(f"/api/drop/{drop_id}/lottery", headers=ADMIN)
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "registration_open"
    assert "only once it has closed" in early.json()["error"]
    direct = await ingress.post(f"/Drop/{drop_id}/runLottery", json={"trigger": "admin"})
    assert direct.status_code == 409, direct.text
    assert (await api.status(drop_id))["phase"] == "registration"
    # The timer still draws at registrationEnd, and the admin call is allowed after it.
    drawn = await api.draw_after_close(bus, drop_id)
    assert drawn["phase"] == "purchase" and drawn["winnerCount"] == 1
    proof = (await api.proof(drop_id))["proof"]
    assert proof["timestamp"] >= (await api.status(drop_id))["registrationEnd"]
