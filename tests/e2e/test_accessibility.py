"""WCAG 2 A/AA checks with axe-core (npm, pinned in .tools) on the home page, a drop page and
the operator console, at desktop and phone widths: no violation is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.support import ADMIN_SECRET
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / ".tools/node_modules/axe-core/axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = [1280, 375]


async def violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
            .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}))
        """,
        WCAG_A_AA,
    )
    return found


def readable(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)


@pytest.fixture(scope="module")
async def live_drop(api: DropApi) -> str:
    drop_id = uid("a11y")
    await api.create(
        drop_id,
        inventory=3,
        registrationEnd=now_ms() + 600_000,
        purchaseWindow=30,
        productName="Accessible Parka",
    )
    for i in range(2):
        assert (await api.register(drop_id, uid(f"a{i}"), 1)).status_code == 200
    return drop_id


async def open_page(browser: Browser, web: str, width: int, path: str) -> Page:
    # The site's CSP allows only its own scripts; axe is injected inline, by the test only.
    # Reduced motion: colours are judged as they settle, not halfway through a transition.
    context = await browser.new_context(
        base_url=web,
        viewport={"width": width, "height": 900},
        bypass_csp=True,
        reduced_motion="reduce",
    )
    page = await context.new_page()
    await page.goto(path)
    return page


@pytest.mark.parametrize("width", WIDTHS)
async def test_home_page_has_no_wcag_violations(
    stack: Stack, browser: Browser, live_drop: str, width: int
) -> None:
    page = await open_page(browser, stack.start_app("web"), width, "/")
    await expect(page.locator(f'[href="/drop/{live_drop}"]').first).to_be_visible()
    found = await violations(page)
    await page.context.close()
    assert found == [], f"/ at {width}px:\n{readable(found)}"


@pytest.mark.parametrize("width", WIDTHS)
async def test_drop_page_has_no_wcag_violations(
    stack: Stack, browser: Browser, live_drop: str, width: int
) -> None:
    page = await open_page(browser, stack.start_app("web"), width, f"/drop/{live_drop}")
    await expect(page.get_by_role("heading", name="Accessible Parka")).to_be_visible()
    await expect(page.locator("#action")).to_be_enabled()  # the live state has arrived
    found = await violations(page)
    await page.context.close()
    assert found == [], f"/drop/{live_drop} at {width}px:\n{readable(found)}"


@pytest.mark.parametrize("width", WIDTHS)
async def test_console_has_no_wcag_violations(
    stack: Stack, browser: Browser, live_drop: str, width: int
) -> None:
    page = await open_page(browser, stack.start_app("web"), width, "/admin")
    await page.get_by_label("Admin secret").fill(ADMIN_SECRET)
    await page.get_by_role("button", name="Sign in").click()
    card = page.locator(f'.funnel-card[data-drop-id="{live_drop}"]')
    await expect(card.locator("[data-field=registered]")).to_have_text("2")
    found = await violations(page)
    await page.context.close()
    assert found == [], f"/admin at {width}px:\n{readable(found)}"


@pytest.fixture(scope="module")
async def sized_drop(api: DropApi) -> str:
    """A drop with sizes (issue 23): its page shows the ranked size picker."""
    drop_id = uid("a11y-sizes")
    sizes = [
        {"id": "S", "label": "Small", "inventory": 1},
        {"id": "M", "label": "Medium", "inventory": 2},
        {"id": "L", "label": "Large", "inventory": 1},
    ]
    await api.create(
        drop_id,
        inventory=4,
        variants=sizes,
        registrationEnd=now_ms() + 600_000,
        purchaseWindow=30,
        productName="Sized Parka",
    )
    return drop_id


@pytest.mark.parametrize("width", WIDTHS)
async def test_size_picker_has_no_wcag_violations(
    stack: Stack, browser: Browser, sized_drop: str, width: int, tmp_path: Path
) -> None:
    page = await open_page(browser, stack.start_app("web"), width, f"/drop/{sized_drop}")
    await expect(page.locator("#action")).to_be_enabled()
    await page.get_by_label("First choice").select_option("M")
    await page.get_by_label("Second choice").select_option("L")
    await expect(page.get_by_role("group", name="Sizes you would take, best first")).to_be_visible()
    await page.screenshot(path=str(tmp_path / f"sizes-{width}.png"), full_page=True)
    found = await violations(page)
    await page.context.close()
    assert found == [], f"/drop/{sized_drop} at {width}px:\n{readable(found)}"
