"""A buyer's `purchased` and the drop's closing `settle` reach their object by different
paths (Drop → Participant, and Drop → Settlement → Participant), so either may come first.
Whichever does, a winner who paid ends as `purchased`, never `expired`, and only once."""

from __future__ import annotations

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, events, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_a_settle_that_overtakes_the_purchase_still_ends_purchased(
    api: DropApi, bus: Bus, stack: Stack
) -> None:
    drop_id, buyer, lapsed = uid("settle-order"), uid("b"), uid("l")
    async with events(bus, f"drop.{drop_id}.>") as log:
        await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 1500, purchaseWindow=60)
        for user in (buyer, lapsed):
            assert (await api.register(drop_id, user, 1)).status_code == 200
        await log.phase(drop_id, "purchase")
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as ingress:
            # The drop's settle arrives first, saying the buyer paid; the other did not.
            for user, bought in ((buyer, True), (lapsed, False)):
                r = await ingress.post(
                    f"/Participant/{drop_id}:{user}/settle", json={"bought": bought}
                )
                assert r.status_code == 200, r.text
            # Then the buyer's own `purchased` arrives late.
            r = await ingress.post(
                f"/Participant/{drop_id}:{buyer}/applyOutcome",
                json={"outcome": "purchased", "atMs": now_ms()},
            )
            assert r.status_code == 200, r.text
            statuses = {
                user: (await ingress.post(f"/Participant/{drop_id}:{user}/getStatus")).json()
                for user in (buyer, lapsed)
            }
    assert statuses[buyer]["status"] == "purchased"
    assert statuses[lapsed]["status"] == "expired"
    told = [e["type"] for s, e in log.items if s == f"drop.{drop_id}.user.{buyer}"]
    assert told.count("purchased") == 1, told
    assert "expired" not in told, told
