"""Unknown drop ids are answered from the API's index at once, never by the durable layer."""

from __future__ import annotations

import time

import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import ADMIN, DropApi, uid

pytestmark = pytest.mark.integration


async def test_admin_and_purchase_calls_on_an_unknown_drop_are_404_at_once(
    api: DropApi, bus: Bus
) -> None:
    drop_id = uid("future")
    user = uid("u")
    for path, headers, body in (
        (f"/api/drop/{drop_id}/lottery", ADMIN, None),
        (f"/api/drop/{drop_id}/promote", ADMIN, None),
        (f"/api/drop/{drop_id}/status", {}, None),
    ):
        started = time.monotonic()
        r = await (
            api.client.post(path, headers=headers, json=body)
            if not path.endswith("status")
            else api.client.get(path)
        )
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "drop_not_found"
        assert time.monotonic() - started < 3.0  # a hung or retried call takes far longer
    # The poked id is still free: it can be created, entered and drawn.
    await api.create(drop_id, registrationEnd=int(time.time() * 1000) + 1500)
    assert (await api.register(drop_id, user, 1)).status_code == 200
    drawn = await api.draw_after_close(bus, drop_id)
    assert drawn["winnerCount"] == 1


async def test_purchase_on_an_unknown_drop_is_404_at_once(api: DropApi) -> None:
    drop_id, user = uid("other"), uid("u")
    known = uid("known")
    await api.create(known)
    assert (await api.register(known, user, 1)).status_code == 200  # a real session
    started = time.monotonic()
    r = await api.start_purchase(drop_id, user)
    assert r.status_code == 404 and r.json()["code"] == "drop_not_found", r.text
    r = await api.purchase(drop_id, user, "x" * 20)
    assert r.status_code == 404, r.text
    assert time.monotonic() - started < 3.0  # a hung or retried call takes far longer
