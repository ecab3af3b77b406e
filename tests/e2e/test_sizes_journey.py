"""Sizes in real browsers (issue 23): the operator creates a drop with sizes in the console's
size editor, a shopper ranks the sizes, wins, buys, and sees the size on the result and on
the order; the console's drop view shows the funnel per size; axe-core finds nothing on the
size editor. Screenshots at 1280 and 375 px land in tests/e2e/artifacts/."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.e2e.support import ARTIFACTS, WebStack
from tests.e2e.test_accessibility import readable, violations
from tests.e2e.test_journey import (
    LIVE,
    LOCAL_INPUT_SECONDS,
    admin_sign_in,
    behave_like_a_person,
    new_page,
    shot,
    site,
)
from tests.support.api_client import DropApi, now_ms, uid

pytestmark = pytest.mark.e2e
_ = site  # the module-scoped web stack fixture, used by name

ENTRY_WINDOW_S = 45
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


async def both_widths(page: Page, name: str) -> None:
    """Screenshots at 1280 and 375 px; the page must not scroll sideways at 375."""
    await shot(page, f"{name}-1280.png")
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 375px"
    await shot(page, f"{name}-375.png")
    await page.set_viewport_size(DESKTOP)


async def no_violations(page: Page, where: str) -> None:
    for viewport in (DESKTOP, PHONE):
        await page.set_viewport_size(viewport)
        found = await violations(page)
        assert found == [], f"{where} at {viewport['width']}px:\n{readable(found)}"
    await page.set_viewport_size(DESKTOP)


async def test_pick_sizes_win_buy_and_see_the_size(browser: Browser, site: WebStack) -> None:
    drop_id = uid("sized")
    # axe is injected inline by the test only, past the site's CSP.
    admin_ctx, admin = await new_page(browser, site, bypass_csp=True, reduced_motion="reduce")
    shopper_ctx, shopper = await new_page(browser, site)
    contexts = [admin_ctx, shopper_ctx]
    try:
        # --- the operator's size editor ---------------------------------------------------
        await admin_sign_in(admin)
        form = admin.locator("#create-form")
        await form.get_by_label("Product name").fill("Sized Storm Shell")
        await form.get_by_label("Drop id").fill(drop_id)
        await form.get_by_label("Size 1 id").fill("S")
        await form.get_by_label("Size 1 label").fill("Small")
        await form.get_by_label("Size 1 stock").fill("1")
        await form.get_by_role("button", name="Add a size").click()
        await expect(form.get_by_label("Size 2 id")).to_be_focused()
        await form.get_by_label("Size 2 id").fill("M")
        await form.get_by_label("Size 2 label").fill("Medium")
        await form.get_by_label("Size 2 stock").fill("2")
        await form.get_by_role("button", name="Add a size").click()
        await form.get_by_label("Size 3 id").fill("XL")
        await form.get_by_role("button", name="Remove size 3").click()
        await expect(form.get_by_label("Size 3 id")).to_have_count(0)
        # With sizes, the inventory is their sum.
        await expect(form.locator("#inventory")).to_be_disabled()
        await expect(form.locator("[data-field=inventory-hint]")).to_have_text(
            "2 sizes: the inventory is their sum, 3."
        )
        await no_violations(admin, "the console's size editor")
        await form.locator("#sizes").screenshot(path=str(ARTIFACTS / "console-sizes-editor.png"))
        closes_at = time.monotonic() + ENTRY_WINDOW_S
        end = await admin.evaluate(LOCAL_INPUT_SECONDS, ENTRY_WINDOW_S)
        await form.locator("#registrationEnd").fill(end)
        await form.locator("#purchaseWindow").fill("300")
        await form.get_by_role("button", name="Create drop").click()
        await expect(admin.get_by_role("status")).to_contain_text(f"Created {drop_id}")

        # --- the shopper ranks Medium, then Small, and enters -----------------------------
        await shopper.goto(f"/drop/{drop_id}")
        await behave_like_a_person(shopper)
        action = shopper.locator("#action")
        await expect(action).to_have_text("Enter free", timeout=LIVE)
        await shopper.get_by_label("First choice").select_option("M")
        await shopper.get_by_label("Second choice").select_option("S")
        await expect(shopper.locator("#pow-text")).to_contain_text("verified", timeout=LIVE)
        await both_widths(shopper, "sizes-entry")
        await action.click()
        await expect(shopper.locator("#status-chip")).to_have_text("REGISTERED", timeout=LIVE)

        # --- the console's drop view: who ranked what, before the draw --------------------
        await admin.goto(f"/admin/drops/{drop_id}")
        medium = admin.locator('#size-funnel tr[data-size="M"]')
        await expect(medium.locator("[data-field=rankedFirst]")).to_have_text("1")
        await expect(
            admin.locator('#size-funnel tr[data-size="S"] [data-field=rankedAny]')
        ).to_have_text("1")
        await no_violations(admin, "the console's drop view")

        # --- the draw at close: the only entrant wins their first choice -------------------
        until_close_ms = max(0.0, closes_at - time.monotonic()) * 1000
        await expect(shopper.locator("#status-chip")).to_have_text(
            "WINNER", timeout=until_close_ms + LIVE
        )
        await expect(shopper.locator("#action-note")).to_contain_text("Your size: Medium.")
        await both_widths(shopper, "sizes-winner")

        # --- the purchase is of that size, and says so ------------------------------------
        await action.click()
        await expect(shopper.locator("#purchase-box")).to_be_visible()
        await shopper.get_by_role("button", name="Confirm purchase").click()
        await expect(shopper.locator("#status-chip")).to_have_text("PURCHASED", timeout=LIVE)
        await expect(action).to_have_text("Purchased ✓ · size Medium")
        # The page recomputed who got which size from the proof, itself.
        await expect(shopper.locator("#proof-sizes-check")).to_have_text(
            "Recomputed ✓ over 2 sizes (checked in your browser)", timeout=LIVE
        )
        await expect(shopper.locator("#action-note")).to_contain_text(
            f"Order {drop_id}-1 (size Medium) is confirmed."
        )
        await both_widths(shopper, "sizes-purchased")

        # --- the funnel per size follows the sale -------------------------------------------
        await admin.goto(f"/admin/drops/{drop_id}")
        for field, value in (("winners", "1"), ("sold", "1"), ("left", "1")):
            await expect(medium.locator(f"[data-field={field}]")).to_have_text(value)
        await expect(
            admin.locator('#size-funnel tr[data-size="S"] [data-field=sold]')
        ).to_have_text("0")
        await both_widths(admin, "console-sizes-funnel")

        # --- the console's orders download carries the size ---------------------------------
        export = await admin.request.get(f"/admin/orders.csv?dropId={drop_id}")
        assert export.ok, await export.text()
        rows = list(csv.DictReader(io.StringIO(await export.text())))
        assert [(r["orderId"], r["variantId"]) for r in rows] == [(f"{drop_id}-1", "M")], rows
        for ctx in contexts:
            assert not ctx.errors, ctx.errors  # type: ignore[attr-defined]
    finally:
        await asyncio.gather(*(c.close() for c in contexts))


async def test_a_tampered_allocation_is_named_in_the_browser(
    browser: Browser, site: WebStack, api: DropApi
) -> None:
    """The proof served to the page moves a winner to another size: the page's own
    recomputation names the difference, in the words python -m drop.verify uses."""
    drop_id = uid("sized-tamper")
    sizes = [{"id": "S", "label": "Small", "inventory": 1}, {"id": "M", "inventory": 1}]
    await api.create(
        drop_id, inventory=2, variants=sizes, registrationEnd=now_ms() + 1500, purchaseWindow=60
    )
    for ranking in (["S"], ["M", "S"], ["M"]):
        entered = await api.register(drop_id, uid("t"), 1, variants=ranking)
        assert entered.status_code == 200, entered.text
    moved: list[str] = []

    async def tampered(route: Route) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = (await client.get(route.request.url.replace(site.web, site.api))).json()
        if answer["available"]:
            proof = answer["proof"]
            winner = proof["winners"][0]
            other = "M" if proof["allocation"][winner] == "S" else "S"
            proof["allocation"] = {**proof["allocation"], winner: other}
            moved.append(f"The allocation gives {winner} {other}; the recomputation gives ")
        await route.fulfill(json=answer)

    context, page = await new_page(browser, site)
    await page.route(re.compile(r".*/lottery-proof\?participants=true$"), tampered)
    await page.goto(f"/drop/{drop_id}")
    check = page.locator("#proof-sizes-check")
    await expect(check).to_contain_text("✗", timeout=LIVE + 10_000)
    assert moved, "the page never asked for the proof with its participants"
    await expect(check).to_contain_text(moved[-1])
    await expect(check).to_have_class(re.compile("check--alarm"))
    # The rest of the proof is untouched and still checks out.
    await expect(page.locator("#proof-seed-check")).to_contain_text("Yes ✓")
    await page.locator("#fairness").screenshot(path=str(ARTIFACTS / "drop-sizes-tampered.png"))
    await context.close()
