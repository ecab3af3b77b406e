"""The site against the real stack: server-rendered pages, the proxy, the admin console."""

from __future__ import annotations

import html
import json
import re
import statistics
from collections.abc import AsyncIterator

import httpx
import pytest

from drop.adapters.nats_bus import Bus
from tests.e2e.support import ADMIN_SECRET, read_events
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web(stack: Stack, api: DropApi) -> str:
    stack.start_app("sse")  # before web: the web app reads INTERNAL_SSE_URL at start-up
    return stack.start_app("web")


@pytest.fixture
async def client(web: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web, timeout=30, follow_redirects=False) as c:
        yield c


def bootstrap(page: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page)
    assert match, f"no #{element_id} in the page"
    return json.loads(html.unescape(match.group(1)))


def card_of(page: str, drop_id: str) -> str:
    if f'data-drop-id="{drop_id}"' not in page:
        return ""
    card = page[page.index(f'data-drop-id="{drop_id}"') :]
    return card[: card.index("</li>")]


async def test_home_lists_active_drops_without_javascript(
    api: DropApi, client: httpx.AsyncClient
) -> None:
    drop_id = uid("home")
    await api.create(
        drop_id,
        productName="Storm Shell Jacket",
        imageUrl="/static/img/jacket.svg",
        inventory=40,
        registrationEnd=now_ms() + 2 * 3_600_000,
        purchaseWindow=600,
    )
    assert (await api.register(drop_id, uid("u"), 1)).status_code == 200
    # The index the pages read is eventually consistent: wait (bounded) for the entry.

    async def entry_shown() -> tuple[httpx.Response, str]:
        page = await client.get("/")
        assert page.status_code == 200
        card = card_of(page.text, drop_id)
        assert '<dd data-field="participants">1</dd>' in card, card
        return page, card

    page, card = await eventually_async(entry_shown, what="the entry on the page", interval=0.1)
    assert page.headers["content-type"].startswith("text/html")
    assert f'href="/drop/{drop_id}"' in card
    assert "Storm Shell Jacket" in card
    assert "Entries open" in card
    assert "Entries close in" in card
    assert re.search(r">(1:5\d|0?1:5\d:\d\d|01:5\d:\d\d)<", card), card  # about two hours
    assert "40 available" in card
    assert '<dd data-field="participants">1</dd>' in card


async def test_drop_page_renders_state_proof_and_bootstrap(
    api: DropApi, client: httpx.AsyncClient
) -> None:
    drop_id = uid("page")
    created = await api.create(
        drop_id,
        productName="Trail Runner <Limited>",
        productDescription="Only 3 pairs.",
        inventory=3,
        registrationEnd=now_ms() + 3_600_000,
        purchaseWindow=600,
        ticketPriceUnit=2.0,
        geoFence={"type": "radius", "center": {"lat": 40.0, "lng": -74.0}, "radiusMeters": 500},
        geoFenceMode="exclusive",
    )
    page = await client.get(f"/drop/{drop_id}")
    assert page.status_code == 200
    text = page.text
    assert '<h1 class="drop__title">Trail Runner &lt;Limited&gt;</h1>' in text  # escaped
    assert "Only 3 pairs." in text
    assert created["commitment"] in text
    assert 'id="stat-participants" class="mono">0<' in text
    assert "3 / 3" in text
    assert "Entries close in" in text
    assert "Only people in the marked area can enter." in text
    assert "<noscript>" in text
    data = bootstrap(text, "drop-data")
    assert isinstance(data, dict)
    assert data["dropId"] == drop_id and data["geoFenceMode"] == "exclusive"
    assert data["ticketPricing"]["costs"][3] == 10.0
    server_time = bootstrap(text, "server-time")
    assert isinstance(server_time, int) and abs(server_time - now_ms()) < 10_000
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_unknown_and_malformed_drops_are_404_pages(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/drop/{uid('nope')}")
    assert missing.status_code == 404
    assert "No such drop" in missing.text
    bad = await client.get("/drop/not%20valid")
    assert bad.status_code == 404


async def test_the_journey_through_the_proxy_keeps_the_session(
    api: DropApi, bus: Bus, client: httpx.AsyncClient
) -> None:
    """Register, win and buy with only same-origin calls: the session cookie does the rest."""
    drop_id, user = uid("proxy"), uid("buyer")
    await api.create(drop_id, inventory=1, registrationEnd=now_ms() + 3000, purchaseWindow=60)
    r = await client.post(f"/api/drop/{drop_id}/register", json={"userId": user, "tickets": 3})
    assert r.status_code == 200, r.text
    assert r.json()["cost"] == 5.0
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("drop_session="))
    assert "HttpOnly" in cookie
    assert client.cookies.get("drop_session")
    me = await client.get(f"/api/drop/{drop_id}/me/{user}")
    assert me.status_code == 200 and me.json()["status"] == "registered"
    await api.draw_after_close(bus, drop_id)
    drawn = await client.post(
        f"/api/drop/{drop_id}/lottery", headers={"Authorization": f"Bearer {ADMIN_SECRET}"}
    )
    assert drawn.status_code == 200, drawn.text
    started = await client.post(f"/api/drop/{drop_id}/purchase/start", json={"userId": user})
    assert started.status_code == 200, started.text
    token = started.json()["purchaseToken"]
    bought = await client.post(
        f"/api/drop/{drop_id}/purchase", json={"userId": user, "purchaseToken": token}
    )
    assert bought.status_code == 200, bought.text
    assert bought.json()["inventory"] == 0
    # Without the cookie the same call is refused: the proxy passed the session, not magic.
    async with httpx.AsyncClient(base_url=str(client.base_url)) as stranger:
        refused = await stranger.get(f"/api/drop/{drop_id}/me/{user}")
    assert refused.status_code == 401


async def test_event_streams_through_the_proxy_add_no_delay(
    api: DropApi, web: str, stack: Stack
) -> None:
    """The same events, read directly from the SSE service and through the site at once."""
    drop_id = uid("lag")
    await api.create(drop_id, inventory=5, registrationEnd=now_ms() + 600_000, purchaseWindow=60)
    path = f"/events/{drop_id}/watcher"
    async with (
        httpx.AsyncClient() as client,
        read_events(client, f"{stack.url('sse')}{path}") as direct,
        read_events(client, f"{web}{path}") as proxied,
    ):
        assert proxied.response.headers["x-accel-buffering"] == "no"
        await direct.next("connected")
        await proxied.next("connected")
        lags = []
        for n in range(1, 6):
            r = await api.register(drop_id, uid("u"), 1)
            assert r.status_code == 200
            a = await direct.next("drop")
            b = await proxied.next("drop")
            assert a.id == b.id and a.data["participantCount"] == b.data["participantCount"] == n
            lags.append(b.at - a.at)
    # Network stacks on one machine add well under a millisecond; the median says so, and
    # the max allows one scheduling hiccup of a loaded machine (a buffering proxy would hold
    # the event until the stream ends, and `next` would time out).
    assert statistics.median(lags) < 0.02, lags
    assert max(lags) < 0.5, lags


async def test_admin_console_needs_the_secret_and_never_shows_it(
    client: httpx.AsyncClient, api: DropApi
) -> None:
    login_page = await client.get("/admin")
    assert login_page.status_code == 200
    assert 'name="secret"' in login_page.text and "Create a drop" not in login_page.text
    # Acting without signing in creates nothing.
    sneaky = uid("sneaky")
    refused = await client.post(
        "/admin/drops", data={"productName": "x", "dropId": sneaky, "inventory": "1"}
    )
    assert refused.status_code == 303 and refused.headers["location"] == "/admin"
    assert (await api.client.get(f"/api/drop/{sneaky}/status")).status_code == 404
    wrong = await client.post("/admin/login", data={"secret": "guess"})
    assert wrong.status_code == 401 and "not right" in wrong.text
    assert "drop_admin" not in client.cookies

    ok = await client.post("/admin/login", data={"secret": ADMIN_SECRET})
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    console = await client.get("/admin")
    assert "Create a drop" in console.text
    assert ADMIN_SECRET not in console.text
    # The alarms were read (an unreadable reading is an alarm of its own) and there are none.
    assert 'id="alarms"' not in console.text, console.text

    drop_id = uid("admin")
    form = {
        "tzOffset": "0",
        "productName": "Console Parka",
        "dropId": drop_id,
        "productDescription": "",
        "imageUrl": "/static/img/jacket.svg",
        "inventory": "2",
        "purchaseWindow": "120",
        "registrationStart": "",
        "registrationEnd": "",
        "ticketPriceUnit": "1",
        "maxTicketsPerUser": "5",
        "backupMultiplier": "1.5",
        "geoFenceType": "radius",
        "geoFenceMode": "bonus",
        "geoFenceBonusMultiplier": "2",
        "geoFenceName": "Soho",
        "geoLat": "51.5136",
        "geoLng": "-0.1365",
        "geoRadius": "800",
        "geoPolygon": "",
    }
    created = await client.post("/admin/drops", data=form)
    assert created.status_code == 303, created.text
    status = (await api.client.get(f"/api/drop/{drop_id}/status")).json()
    assert status["productName"] == "Console Parka" and status["inventory"] == 2
    assert status["ticketPricing"]["maxTickets"] == 5
    assert status["geoFence"]["name"] == "Soho" and status["geoFenceBonusMultiplier"] == 2
    assert 3_500_000 < status["registrationEnd"] - status["registrationStart"] <= 3_600_000

    invalid = await client.post("/admin/drops", data={**form, "dropId": uid("x"), "inventory": "0"})
    assert invalid.status_code == 400 and "Console Parka" in invalid.text  # form kept

    foreign = await client.post(
        f"/admin/drops/{drop_id}/lottery", headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    # Registration is open for an hour: the operator cannot draw before it closes.
    early = await client.post(f"/admin/drops/{drop_id}/lottery")
    assert early.status_code == 303 and "Drew" not in early.headers["location"]
    assert "the%20draw%20runs%20only%20once%20it%20has%20closed" in early.headers["location"]
    status = (await api.client.get(f"/api/drop/{drop_id}/status")).json()
    assert status["phase"] == "registration"
    out = await client.post("/admin/logout")
    assert out.status_code == 303
    assert "Create a drop" not in (await client.get("/admin")).text
