"""The whole journey in real browsers (Playwright driving Debian's Chromium) on the real stack.

Two shoppers open a drop. Alice waits in the waiting room, proves work in a Web Worker,
shares her location for the geo bonus and enters with 3 tickets; Bob watches the entry
count change live, then enters too. An operator runs the draw from the admin console; the
winner buys and sees PURCHASED, the other sees the rollover credit, and both see their
inclusion proof verified in the browser. Screenshots land in tests/e2e/artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, expect

from drop.domain import lottery
from tests.e2e.support import ADMIN_SECRET, ARTIFACTS, WebStack, start_web_stack
from tests.support.api_client import uid
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SOHO = {"latitude": 51.5136, "longitude": -0.1365}
# A datetime-local value `hours` from now, in the browser's time zone.
LOCAL_INPUT = """hours => {
  const d = new Date(Date.now() + hours * 3600e3);
  return new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
}"""
LOCAL_INPUT_SECONDS = """seconds => {
  const d = new Date(Date.now() + seconds * 1e3);
  return new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
}"""
# The draw runs only once registration has closed: the journey's drop closes
# this long after it is created, enough for both shoppers to enter first.
ENTRY_WINDOW_S = 90
LIVE = 15_000  # ms: how long a live update may take to show before the test fails


@pytest.fixture(scope="module")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    web = start_web_stack(stack, tmp_path_factory.mktemp("web-e2e"))
    try:
        yield web
    finally:
        web.stop()


async def new_page(browser: Browser, site: WebStack, **options: Any) -> tuple[BrowserContext, Page]:
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = await browser.new_context(base_url=site.web, **options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    context.errors = errors  # type: ignore[attr-defined]
    return context, page


async def shot(page: Page, name: str, *, full: bool = True) -> None:
    if full:  # from the top, so the sticky header sits where it belongs
        await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full)


async def behave_like_a_person(page: Page) -> None:
    """Mouse movement, scrolling and key presses, at uneven pace (the behaviour signals)."""
    for i, (x, y) in enumerate([(200, 300), (640, 420), (900, 260), (420, 640), (1000, 520)]):
        await page.mouse.move(x, y, steps=8 + 5 * i)
    await page.mouse.wheel(0, 240)
    await page.mouse.wheel(0, -240)
    await page.keyboard.press("Shift")
    await page.keyboard.press("Shift")


async def admin_sign_in(page: Page) -> None:
    await page.goto("/admin")
    await page.get_by_label("Admin secret").fill(ADMIN_SECRET)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Operator console")).to_be_visible()


async def admin_create(page: Page, drop_id: str, name: str, **fields: str) -> None:
    await page.goto("/admin")
    form = page.locator("#create-form")
    await form.get_by_label("Product name").fill(name)
    await form.get_by_label("Drop id").fill(drop_id)
    await form.get_by_label("Description").fill(
        "Three-layer waterproof shell, taped seams, reflective details. Numbered run."
    )
    await form.get_by_label("Image URL").fill("/static/img/jacket.svg")
    for label, value in fields.items():
        await form.locator(f"#{label}").fill(value)
    if "geoFenceName" in fields:
        await form.get_by_label("Fence", exact=True).select_option("radius")
        await form.get_by_label("Mode").select_option("bonus")
    await form.get_by_role("button", name="Create drop").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Created {drop_id}")


async def stat(page: Page, name: str) -> str:
    return await page.locator(f"#stat-{name}").inner_text()


async def test_two_shoppers_enter_draw_buy_and_verify(browser: Browser, site: WebStack) -> None:
    drop_id = uid("storm")
    admin_ctx, admin = await new_page(browser, site)
    contexts = [admin_ctx]
    await admin_sign_in(admin)
    closes_at = time.monotonic() + ENTRY_WINDOW_S
    await admin_create(
        admin,
        drop_id,
        "Storm Shell Jacket",
        registrationEnd=await admin.evaluate(LOCAL_INPUT_SECONDS, ENTRY_WINDOW_S),
        inventory="1",
        purchaseWindow="300",
        ticketPriceUnit="1",
        maxTicketsPerUser="10",
        geoFenceName="Soho",
        geoLat=str(SOHO["latitude"]),
        geoLng=str(SOHO["longitude"]),
        geoRadius="1500",
        geoFenceBonusMultiplier="1.5",
    )
    upcoming_id = uid("upcoming")

    alice_ctx, alice = await new_page(browser, site, geolocation=SOHO, permissions=["geolocation"])
    bob_ctx, bob = await new_page(browser, site)
    contexts += [alice_ctx, bob_ctx]
    try:
        # --- home page: server-rendered cards, live -------------------------------------
        await alice.goto("/")
        card = alice.locator(f'[data-drop-id="{drop_id}"]')
        await expect(card).to_contain_text("Storm Shell Jacket")
        await expect(card).to_contain_text("Entries close in")
        await expect(alice.locator("#live-status")).to_have_attribute("data-state", "live")
        await shot(alice, "home.png")

        # --- both open the drop --------------------------------------------------------
        await bob.goto(f"/drop/{drop_id}")
        await expect(bob.locator("#live-status")).to_have_attribute(
            "data-state", "live", timeout=LIVE
        )
        await expect(bob.locator("#stat-participants")).to_have_text("0")

        registrations: list[dict[str, Any]] = []
        registration_headers: list[dict[str, str]] = []
        challenges_asked: list[str] = []

        def capture(request: Request) -> None:
            if request.method == "POST" and request.url.endswith(f"/api/drop/{drop_id}/register"):
                registrations.append(json.loads(request.post_data or "{}"))
                registration_headers.append(request.headers)
            if "/api/pow/challenge" in request.url:
                challenges_asked.append(request.url)

        alice.on("request", capture)
        async with alice.expect_response(lambda r: r.url.endswith("/join")) as join_answer:
            await alice.goto(f"/drop/{drop_id}")
        joined = await (await join_answer.value).json()
        await behave_like_a_person(alice)
        # Waiting room first: the button says where you are until it's your turn.
        action = alice.locator("#action")
        await expect(action).to_have_text("Enter free", timeout=LIVE)
        await expect(action).to_be_enabled()
        # Geo gate (bonus mode): share the location, inside the fence.
        await alice.get_by_role("button", name="Share my location").click()
        await expect(alice.locator("#geo-status")).to_contain_text("inside Soho", timeout=LIVE)
        # Ticket selector: 3 tickets = 1 free + 2 paid = 1² + 2² = $5.00.
        await alice.get_by_role("button", name="One ticket more").click()
        await alice.get_by_role("button", name="One ticket more").click()
        await expect(alice.locator("#tickets")).to_have_value("3")
        await expect(alice.locator("#cost-total")).to_have_text("$5.00")
        await expect(alice.locator("#cost-paid")).to_have_text("2")
        await expect(action).to_have_text("Enter · pay $5.00")
        await expect(alice.locator("#pow-text")).to_contain_text("Browser verified", timeout=LIVE)
        await shot(alice, "drop-registration.png")

        clicked = time.perf_counter()
        await action.click()
        await expect(alice.locator("#status-chip")).to_have_text("REGISTERED", timeout=LIVE)
        await expect(alice.locator("#action-note")).to_contain_text("Paid $5.00")
        await expect(alice.locator("#action-note")).to_contain_text("3 tickets (4 in the draw)")
        # Bob's page was not reloaded: the count arrives over the event stream.
        await expect(bob.locator("#stat-participants")).to_have_text("1", timeout=LIVE)
        live_delay = time.perf_counter() - clicked
        await expect(bob.locator("#stat-tickets")).to_have_text("4")
        await shot(alice, "drop-registered.png")

        body = registrations[0]
        assert body["tickets"] == 3
        assert body["queueToken"], "registered without a waiting-room token"
        pow_ = body["botValidation"]
        assert pow_["powSolution"] and pow_["powChallenge"]
        # Nobody waited: the join let Alice in and handed her the challenge she solved.
        assert joined["status"] == "ready"
        assert pow_["powChallenge"] == joined["powChallenge"]["challenge"]
        assert challenges_asked == []
        assert body["behaviorSignals"]["mouseMovements"] > 0
        assert json.loads(body["behaviorSignals"]["interactionPatterns"])["intervals"]
        assert 1 < pow_["fingerprintConfidence"] <= 100  # the 0-100 scale
        assert body["location"] == {"lat": SOHO["latitude"], "lng": SOHO["longitude"]}
        sent = registration_headers[0]
        assert len(sent["x-claim-secret"]) >= 22 and sent["idempotency-key"]

        # --- Alice loses her session cookie: the page proves her claim and gets it back ---
        await alice.context.clear_cookies()
        async with alice.expect_response(lambda r: r.url.endswith("/api/session/recover")) as rec:
            await alice.reload()
        assert (await rec.value).status == 200
        await expect(alice.locator("#status-chip")).to_have_text("REGISTERED", timeout=LIVE)
        assert any(c["name"] == "drop_session" for c in await alice.context.cookies())
        # The browser logs the one 401 that sent the page to recover; nothing else may fail.
        logged: list[str] = alice.context.errors  # type: ignore[attr-defined]
        assert logged == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        logged.clear()

        # --- Bob enters too (3 tickets, no location) -------------------------------------
        await behave_like_a_person(bob)
        bob_action = bob.locator("#action")
        await expect(bob_action).to_have_text("Enter free", timeout=LIVE)
        await bob.locator("#tickets").fill("3")
        await expect(bob.locator("#cost-total")).to_have_text("$5.00")
        await bob_action.click()
        await expect(bob.locator("#status-chip")).to_have_text("REGISTERED", timeout=LIVE)
        await expect(alice.locator("#stat-participants")).to_have_text("2", timeout=LIVE)

        # --- phone-sized view -----------------------------------------------------------
        phone_ctx, phone = await new_page(
            browser,
            site,
            viewport={"width": 375, "height": 812},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        contexts.append(phone_ctx)
        await phone.goto(f"/drop/{drop_id}")
        await expect(phone.locator("#stat-participants")).to_have_text("2")
        await expect(phone.locator("#action")).to_have_text("Enter free", timeout=LIVE)
        await expect(phone.locator("#pow-text")).to_contain_text("verified", timeout=LIVE)
        overflow = await phone.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 375px"
        await shot(phone, "drop-375.png")

        # --- the operator cannot draw early; the draw runs when entries close ------------
        await admin.goto("/admin")
        row = admin.locator(f'tr[data-drop-id="{drop_id}"]')
        await row.get_by_role("button", name="Run draw").click()
        await expect(admin.get_by_role("alert")).to_contain_text("only once it has closed")
        await shot(admin, "admin.png")

        settled = "el => ['WINNER', 'WAITLIST', 'NOT SELECTED'].includes(el.textContent)"
        until_close_ms = max(0.0, closes_at - time.monotonic()) * 1000
        for page in (alice, bob):
            await page.locator("#status-chip").wait_for(state="visible")
            await page.wait_for_function(
                f"() => ({settled})(document.getElementById('status-chip'))",
                timeout=until_close_ms + LIVE,
            )
        chips = {p: await p.locator("#status-chip").inner_text() for p in (alice, bob)}
        assert sorted(chips.values())[1] == "WINNER", chips
        winner = alice if chips[alice] == "WINNER" else bob
        loser = bob if winner is alice else alice
        await expect(winner.locator("#phase-badge")).to_have_text("Winners buying")
        await expect(winner.locator("#action")).to_have_text("Complete purchase")
        await expect(winner.locator("#action-note")).to_contain_text("You won! Buy before")
        await expect(winner.locator("#proof-commitment-check")).to_contain_text("Matches ✓")
        await shot(winner, "drop-purchase-winner.png")
        await shot(loser, "drop-purchase-waitlist.png")

        # --- the winner buys ---------------------------------------------------------------
        await winner.locator("#action").click()
        checkout = winner.locator("#purchase-box")
        await expect(checkout).to_be_visible()
        await expect(winner.locator("#purchase-deadline")).to_have_text(re.compile(r"^0[45]:\d\d$"))
        await shot(winner, "drop-checkout.png", full=False)
        await winner.get_by_role("button", name="Confirm purchase").click()
        await expect(winner.locator("#status-chip")).to_have_text("PURCHASED", timeout=LIVE)
        await expect(winner.locator("#stat-inventory")).to_have_text("0 / 1")

        # --- the drop completes: the other shopper gets their paid entries back ------------
        await expect(loser.locator("#status-chip")).to_have_text("NOT SELECTED", timeout=LIVE)
        await expect(loser.locator("#action-note")).to_contain_text(
            "+2 rollover credits", timeout=LIVE
        )
        await expect(loser.locator("#phase-badge")).to_have_text("Ended", timeout=LIVE)

        # --- fairness: everyone's inclusion proof checks out in their own browser ----------
        for page in (winner, loser):
            await expect(page.locator("#inclusion-status")).to_have_text(
                "Verified in your browser ✓", timeout=LIVE
            )
            await expect(page.locator("#proof-seed-check")).to_contain_text("Yes ✓")
            # The signed receipt kept at registration matches the published tree.
            await expect(page.locator("#receipt-status")).to_have_text(
                "Your entry is in the tree ✓ (matches your signed receipt)", timeout=LIVE
            )
        await shot(winner, "drop-completed-winner.png")
        await shot(loser, "drop-completed-loser.png")

        # --- the public randomness: the round committed at creation, checked -------------
        committed = await winner.locator("#proof-beacon-round").inner_text()
        round_number = re.search(r"Round (\d+)", committed)
        assert round_number is not None and "chain" in committed, committed
        await expect(winner.locator("#proof-beacon-round")).to_contain_text(site.beacon)
        await expect(winner.locator("#proof-beacon-status")).to_contain_text(
            f"Verified ✓ round {round_number.group(1)}"
        )
        await winner.locator("#fairness").screenshot(
            path=str(ARTIFACTS / "drop-fairness-beacon.png")
        )

        # --- an upcoming drop: it appears on an open home page by itself ------------------
        await phone.goto("/")
        await expect(phone.locator("#live-status")).to_have_attribute("data-state", "live")
        await admin.goto("/admin")
        start = await admin.evaluate(LOCAL_INPUT, 3)
        end = await admin.evaluate(LOCAL_INPUT, 6)
        await admin_create(
            admin, upcoming_id, "Alpine Down Vest", registrationStart=start, registrationEnd=end
        )
        new_card = phone.locator(f'[data-drop-id="{upcoming_id}"]')
        await expect(new_card).to_contain_text("Alpine Down Vest", timeout=LIVE)
        await expect(new_card.locator('[data-field="phase"]')).to_have_text("Opens soon")
        await expect(new_card).to_contain_text("Entries open in")
        await expect(new_card.locator("a")).to_have_attribute("href", f"/drop/{upcoming_id}")
        await shot(phone, "home-375.png")
        await bob.goto(f"/drop/{upcoming_id}")
        await expect(bob.locator("#phase-badge")).to_have_text("Opens soon")
        await expect(bob.locator("#action")).to_contain_text("Entries open in")
        await expect(bob.locator("#action")).to_be_disabled()
        await shot(bob, "drop-upcoming.png")

        print(f"\nentry → other browser's live count: {live_delay * 1000:.0f} ms")
        for ctx in contexts:
            assert not ctx.errors, ctx.errors  # type: ignore[attr-defined]
    finally:
        await asyncio.gather(*(c.close() for c in contexts))


async def test_a_draw_without_its_beacon_round_is_shown_loudly(
    browser: Browser, site: WebStack
) -> None:
    """The beacon is down for the drop's round: the page says the draw fell back."""
    drop_id = uid("fallback")
    now = int(time.time() * 1000)
    body = {
        "dropId": drop_id,
        "productName": "Fallback Fleece",
        "inventory": 1,
        "registrationStart": now,
        "registrationEnd": now + 1500,
        "purchaseWindow": 60,
    }
    admin = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(f"{site.api}/api/drops", json=body, headers=admin)
        assert created.status_code in (200, 201), created.text
        state = (await client.get(f"{site.api}/api/drop/{drop_id}/status")).json()
        number = state["beacon"]["round"]
        control = f"{site.beacon}/control/{number}"
        await client.post(control, json={"mode": "down"})
        context, page = await new_page(browser, site)
        try:
            await page.goto(f"/drop/{drop_id}")
            alarm = page.locator("#proof-beacon-status")
            await expect(alarm).to_contain_text("FALLBACK", timeout=LIVE + 10_000)
        finally:
            await client.post(control, json={"mode": "honest"})
        await expect(alarm).to_contain_text(f"round {number} was not available in time")
        await expect(alarm).to_have_class(re.compile("check--alarm"))
        await page.locator("#fairness").screenshot(
            path=str(ARTIFACTS / "drop-fairness-fallback.png")
        )
        await context.close()


async def test_a_proof_downgraded_to_v1_is_refused_in_the_browser(
    browser: Browser, site: WebStack
) -> None:
    """The drop committed to a beacon round; a proof rewritten as v1 without it (seed and
    winners recomputed, consistent on its own) is refused by the page, by name."""
    drop_id = uid("downgrade")
    now = int(time.time() * 1000)
    body = {
        "dropId": drop_id,
        "productName": "Downgrade Parka",
        "inventory": 1,
        "registrationStart": now,
        "registrationEnd": now + 1500,
        "purchaseWindow": 60,
    }
    admin = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(f"{site.api}/api/drops", json=body, headers=admin)
        assert created.status_code in (200, 201), created.text
        served: list[str] = []

        async def downgraded(route: Route) -> None:
            """Serve the real proof redrawn as v1: what a rewriting operator would publish."""
            url = f"{site.api}/api/drop/{drop_id}/lottery-proof?participants=true"
            answer = (await client.get(url)).json()
            if not answer["available"]:
                await route.fulfill(json=answer)
                return
            real = lottery.LotteryProof.from_wire(answer["proof"])
            params = real.parameters
            forged = lottery.run_draw(
                drop_id, real.secret, real.participants, 1, 1.5, real.timestamp,
                registration_start=params.registration_start or 0,
                registration_end=params.registration_end or 0,
                receipt_key=real.receipt_key,
            )  # fmt: skip
            assert lottery.verify_proof(forged).ok
            served.append(forged.algorithm)
            await route.fulfill(json={"available": True, "proof": forged.to_wire()})

        context, page = await new_page(browser, site)
        await page.route(f"**/api/drop/{drop_id}/lottery-proof", downgraded)
        await page.goto(f"/drop/{drop_id}")
        alarm = page.locator("#proof-beacon-status")
        await expect(alarm).to_contain_text("DOWNGRADE", timeout=LIVE + 10_000)
        assert served and served[-1] == lottery.ALGORITHM_V1
        await expect(alarm).to_contain_text("without a beacon")
        await expect(alarm).to_have_class(re.compile("check--alarm"))
        await context.close()
