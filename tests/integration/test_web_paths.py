"""The web proxy reaches `/api/...` and `/events/...` upstream and nothing else, and the
admin form answers unreadable numbers with 400 and a reason (never 500)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import ADMIN_SECRET, read_events
from tests.support import raw_http
from tests.support.api_client import DropApi, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ESCAPES = [
    "/api/%2e%2e/metrics",
    "/api/%2E%2E/docs",
    "/api/%2e%2e/openapi.json",
    "/api/%2e/%2e%2e/openapi.json",
    "/api/..%2fdocs",
    "/api/drops%2Factive",
    "/api/drops%5cactive",
    "/events/%2e%2e/metrics",
    "/events/%2e%2e/health",
    *(f"/api/drop/a{c}b/status" for c in ("%00", "%0a", "%0d", "%1f", "%7f", "%7F")),
    "/events/drops%00",
    "/api/drop/%ff/status",
]


@pytest.fixture(scope="module")
def web(stack: Stack, api: DropApi) -> str:
    stack.start_app("sse")  # before web: the web app reads INTERNAL_SSE_URL at start-up
    return stack.start_app("web")


@pytest.mark.parametrize("target", ESCAPES)
async def test_the_proxy_never_leaves_its_prefix(web: str, target: str) -> None:
    status, answer = await raw_http.get(web, target)
    # 404 where routing already refuses it (a decoded newline matches no route).
    assert status in (400, 404), answer[:300]
    assert status == 404 or b"invalid path" in answer
    assert b"# TYPE" not in answer and b"openapi" not in answer


async def test_ordinary_encoded_paths_still_reach_the_api(web: str) -> None:
    status, _ = await raw_http.get(web, "/api/drops/active")
    assert status == 200
    # An encoded character the id rules refuse is the api's 400, passed on.
    status, answer = await raw_http.get(web, "/api/drop/a%20b/status")
    assert status == 400 and b"invalid path" not in answer


async def test_admin_form_refuses_unreadable_numbers_with_a_reason(web: str) -> None:
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        ok = await client.post("/admin/login", data={"secret": ADMIN_SECRET})
        assert ok.status_code == 303
        form = {
            "productName": "Edge Parka",
            "inventory": "2",
            "purchaseWindow": "120",
            "ticketPriceUnit": "1",
            "maxTicketsPerUser": "5",
            "backupMultiplier": "1.5",
            "geoFenceBonusMultiplier": "2",
            "geoLng": "0",
            "geoRadius": "800",
        }
        cases = {
            "Time zone offset must be within": {"tzOffset": "9" * 30},
            "Time zone offset must be a number": {"tzOffset": "9" * 5000},
            "out of range": {"tzOffset": "1440", "registrationStart": "9999-12-31T23:59"},
            "Latitude must be a finite number": {"geoFenceType": "radius", "geoLat": "1e400"},
            "Longitude must be a finite number": {
                "geoFenceType": "radius",
                "geoLat": "1",
                "geoLng": "nan",
            },
            "must be a finite number": {"geoFenceType": "polygon", "geoPolygon": "1e400, 2"},
        }
        for reason, fields in cases.items():
            answer = await client.post("/admin/drops", data={**form, "dropId": uid("x"), **fields})
            assert answer.status_code == 400, (reason, answer.status_code)
            assert reason in answer.text, reason
        bad_id = await client.post("/admin/by-id/lottery", data={"dropId": ".."})
        assert bad_id.status_code == 303 and "not%20a%20drop%20id" in bad_id.headers["location"]


async def test_the_console_reads_the_apis_private_metrics(web: str) -> None:
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        assert (await client.post("/admin/login", data={"secret": ADMIN_SECRET})).status_code
        async with read_events(client, "/admin/funnel/events") as events:
            funnel = await events.next("funnel", timeout=10)
    assert funnel.data["api"] is not None and funnel.data["api"]["requests"] > 0
