"""An endpoint that keeps failing is disabled with an alarm (API and console banner), and
the console adds endpoints (secret shown once), lists deliveries and retries one, which
enables the endpoint again. On a stack of its own whose deliveries give up after seconds."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

from devtools import devstack
from tests.e2e.support import ADMIN_SECRET
from tests.support.api_client import ADMIN, DropApi, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack
from tests.support.webhook_receiver import started

pytestmark = pytest.mark.integration


async def test_a_failing_endpoint_is_disabled_alarmed_and_recovered_from_the_console(
    own_stack: Stack,
) -> None:
    stack = own_stack
    stack.extra_env.update({"WEBHOOK_RETRY_FOR_SECONDS": "3", "WEBHOOK_MAX_BACKOFF_SECONDS": "1"})
    stack.start_app("worker")
    api_url = stack.start_app("api")
    stack.start_app("sse")
    web_url = stack.start_app("web")
    receiver = await started(devstack.free_port(), "fail")
    try:
        async with (
            httpx.AsyncClient(base_url=api_url, timeout=30) as api_client,
            httpx.AsyncClient(base_url=web_url, timeout=30) as console,
        ):
            api = DropApi(api_client)
            signed = await console.post("/admin/login", data={"secret": ADMIN_SECRET})
            assert signed.status_code == 303

            # The console adds the endpoint and shows its secret on this answer only.
            form = {"url": receiver.url, "event": "drop.created"}
            added = await console.post("/admin/webhooks", data=form)
            assert added.status_code == 200, added.text
            secret = html.unescape(added.text).split('data-field="webhook-secret">')[1][:50]
            receiver.secret = secret.split("<")[0]
            assert receiver.secret.startswith("whsec_")
            assert receiver.secret not in (await console.get("/admin")).text
            listed = (await api_client.get("/api/webhooks", headers=ADMIN)).json()["webhooks"]
            assert [w["url"] for w in listed] == [receiver.url]
            endpoint_id = listed[0]["id"]
            refused = await console.post(
                "/admin/webhooks", data={"url": "ftp://x", "event": "drop.created"}
            )
            assert refused.status_code == 400 and "http" in refused.text

            await api.create(uid("fails"), registrationEnd=now_ms() + 60_000)

            async def disabled() -> list[dict[str, Any]]:
                alarms = (await api_client.get("/api/admin/alarms", headers=ADMIN)).json()
                found = [a for a in alarms["alarms"] if a["kind"] == "webhook"]
                assert found and found[0]["endpointId"] == endpoint_id, alarms
                return found

            alarm = (await eventually_async(disabled, what="a webhook alarm", timeout=30))[0]
            assert "500" in alarm["reason"]
            assert len(receiver.received) >= 2  # retried before giving up, signed each time
            assert not receiver.refused
            banner = (await console.get("/admin")).text
            assert 'id="alarms"' in banner and receiver.url in banner and "Disabled" in banner
            page = await console.get(f"/admin/webhooks/{endpoint_id}")
            assert page.status_code == 200
            deliveries = (
                await api_client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
            ).json()["deliveries"]
            assert [d["status"] for d in deliveries] == ["failed"]
            assert deliveries[0]["responseCode"] == 500 and deliveries[0]["attempts"] >= 2
            assert f"/deliveries/{deliveries[0]['id']}/retry" in page.text

            # The receiver is fixed; the operator retries from the console.
            receiver.mode = "ok"
            before = len(receiver.received)
            retried = await console.post(
                f"/admin/webhooks/{endpoint_id}/deliveries/{deliveries[0]['id']}/retry"
            )
            assert retried.status_code == 303 and "Retry%20sent" in retried.headers["location"]

            async def recovered() -> None:
                listed = (await api_client.get("/api/webhooks", headers=ADMIN)).json()
                assert listed["webhooks"][0]["disabled"] is False, listed
                alarms = (await api_client.get("/api/admin/alarms", headers=ADMIN)).json()
                assert not [a for a in alarms["alarms"] if a["kind"] == "webhook"], alarms

            await eventually_async(recovered, what="the endpoint enabled again", timeout=30)
            again = receiver.received[before:]
            assert again and {r.id for r in again} == {deliveries[0]["id"]}

            removed = await console.post(f"/admin/webhooks/{endpoint_id}/delete")
            assert removed.status_code == 303
            assert (await api_client.get("/api/webhooks", headers=ADMIN)).json() == {"webhooks": []}
    finally:
        await receiver.stop()
