"""The operator console's live funnel during a real drop: entries arrive, the draw runs on
its timer, the winners buy it out; the funnel and its chart follow without a reload.
Screenshots of the registration, draw and sold-out moments land in tests/e2e/artifacts/."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.support import ADMIN_SECRET
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

from tests.e2e.test_journey import ARTIFACTS, LIVE  # noqa: E402


async def console(browser: Browser, web: str) -> Page:
    context = await browser.new_context(base_url=web, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/admin")
    await page.get_by_label("Admin secret").fill(ADMIN_SECRET)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Live funnel")).to_be_visible()
    return page


async def test_the_funnel_and_chart_follow_a_drop_live(
    api: DropApi, stack: Stack, browser: Browser
) -> None:
    web = stack.start_app("web")
    drop_id = uid("console")
    users = [uid(f"c{i}") for i in range(8)]
    await api.create(
        drop_id,
        inventory=2,
        registrationEnd=now_ms() + 14_000,
        purchaseWindow=30,
        productName="Console Parka",
    )
    page = await console(browser, web)
    await page.evaluate("() => { window.notReloaded = true; }")
    card = page.locator(f'.funnel-card[data-drop-id="{drop_id}"]')
    await expect(card.locator("[data-field=registered]")).to_have_text("0", timeout=LIVE)

    async def arrive() -> None:
        for user in users:
            r = await api.register(drop_id, user, 1)
            assert r.status_code == 200, r.text
            await asyncio.sleep(0.4)  # paced arrivals, so the chart has a rate to show

    arriving = asyncio.create_task(arrive())
    # Some have entered and more are coming: the count moved without a reload.
    await expect(card.locator("[data-field=registered]")).to_have_text(
        re.compile(r"^[1-7]$"), timeout=LIVE
    )
    # The registrations line has risen off the axis: some point sits above the baseline.
    risen = await card.locator("polyline[data-series=registrations]").get_attribute("points")
    assert risen is not None
    assert any(float(p.split(",")[1]) < 76 for p in risen.split()), risen
    await expect(card.locator("[data-field=registrations-rate]")).not_to_have_text(
        "Registrations 0.0/s", timeout=LIVE
    )
    await page.screenshot(path=str(ARTIFACTS / "console-registration.png"), full_page=True)
    await arriving
    await expect(card.locator("[data-field=registered]")).to_have_text("8", timeout=LIVE)

    await expect(card).to_have_attribute("data-phase", "purchase", timeout=30_000)
    await expect(card.locator("[data-field=winners]")).to_have_text("2", timeout=LIVE)
    await page.screenshot(path=str(ARTIFACTS / "console-draw.png"), full_page=True)

    winners = (await api.proof(drop_id))["proof"]["winners"]
    for winner in winners:
        await api.buy(drop_id, winner)
    await expect(card).to_have_attribute("data-phase", "completed", timeout=LIVE)
    await expect(card.locator("[data-field=purchased]")).to_have_text("2 / 2", timeout=LIVE)
    await expect(page.locator("#error-rate")).to_have_text("Errors 0.0%")
    await page.screenshot(path=str(ARTIFACTS / "console-sold-out.png"), full_page=True)
    assert await page.evaluate("() => window.notReloaded") is True
    await page.context.close()


async def test_the_funnel_stream_is_for_operators_only(stack: Stack) -> None:
    import httpx

    web = stack.start_app("web")
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"{web}/admin/funnel/events")
    assert r.status_code == 401
