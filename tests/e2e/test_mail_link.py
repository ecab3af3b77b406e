"""A winner who closed the page hears by mail, and buys on another device with its link.

A shopper enters with an email in a real browser and closes the page. After the draw the
local SMTP server holds their winner mail; its link, opened in a fresh browser context
(another device), signs them in and they buy within the window. The link then refuses a
second use, with a page that says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, expect

from devtools.devsmtp import read_maildir
from tests.e2e.support import WebStack, start_web_stack
from tests.e2e.test_journey import LIVE, behave_like_a_person, new_page
from tests.support.api_client import ADMIN, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ENTRY_WINDOW_MS = 45_000


@pytest.fixture(scope="module")
def mail_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """A stack of its own: its worker mails through the local SMTP server."""
    root = tmp_path_factory.mktemp("mail-e2e")
    stack = Stack(root)
    try:
        stack.start_servers()
        stack.start_smtp()
        stack.start_app("worker")
        site = start_web_stack(stack, root)
        site.maildir = stack.maildir  # type: ignore[attr-defined]
        yield site
        site.stop()
    finally:
        stack.stop()


async def winner_mail(site: WebStack, to: str, timeout: float) -> EmailMessage:
    async def arrived() -> EmailMessage:
        found = [
            m
            for m in read_maildir(site.maildir)  # type: ignore[attr-defined]
            if m["To"] == to and "You won" in str(m["Subject"])
        ]
        assert found, "no winner mail yet"
        return found[0]

    return await eventually_async(arrived, what="the winner mail", timeout=timeout, interval=0.5)


async def test_a_winner_buys_on_another_device_from_the_mail_link(
    browser: Browser, mail_site: WebStack
) -> None:
    drop_id, email = uid("mailed"), f"{uid('shopper')}@example.com"
    body = {
        "dropId": drop_id,
        "productName": "Mailed Shell Jacket",
        "inventory": 1,
        "registrationStart": now_ms(),
        "registrationEnd": now_ms() + ENTRY_WINDOW_MS,
        "purchaseWindow": 300,
    }
    async with httpx.AsyncClient(base_url=mail_site.api, timeout=30) as api:
        created = await api.post("/api/drops", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
    closes_at = time.monotonic() + ENTRY_WINDOW_MS / 1000

    first_ctx, first = await new_page(browser, mail_site)
    await first.goto(f"/drop/{drop_id}")
    await behave_like_a_person(first)
    action = first.locator("#action")
    await expect(action).to_have_text("Enter free", timeout=LIVE)
    email_field = first.get_by_label("Email for your result (optional)")
    await expect(first.locator("#entry-email-hint")).to_contain_text("Used only to mail you")
    await email_field.fill(email)
    await expect(first.locator("#pow-text")).to_contain_text("Browser verified", timeout=LIVE)
    await action.click()
    await expect(first.locator("#status-chip")).to_have_text("REGISTERED", timeout=LIVE)
    user = await first.evaluate("() => localStorage.getItem('drop.userId')")
    await first_ctx.close()  # the page is closed long before the draw

    won = await winner_mail(mail_site, email, timeout=closes_at - time.monotonic() + 60)
    text = str(won.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    found = re.search(r"https?://\S+/signin\?token=\S+", text)
    assert found, text
    # Links start at PUBLIC_URL; this site listens elsewhere, so the path is opened here.
    link = urlsplit(found.group(0))
    path = f"{link.path}?{link.query}"

    device_ctx, device = await new_page(browser, mail_site)
    try:
        await device.goto(path)
        await device.get_by_role("button", name="Sign in and buy").click()
        await device.wait_for_url(f"**/drop/{drop_id}")
        await expect(device.locator("#status-chip")).to_have_text("WINNER", timeout=LIVE)
        assert await device.evaluate("() => localStorage.getItem('drop.userId')") == user
        await device.locator("#action").click()
        await expect(device.locator("#purchase-box")).to_be_visible()
        await device.get_by_role("button", name="Confirm purchase").click()
        await expect(device.locator("#status-chip")).to_have_text("PURCHASED", timeout=LIVE)
        assert not device_ctx.errors, device_ctx.errors  # type: ignore[attr-defined]
    finally:
        await device_ctx.close()

    again_ctx, again = await new_page(browser, mail_site)
    try:
        await again.goto(path)
        await again.get_by_role("button", name="Sign in and buy").click()
        await expect(again.get_by_role("heading", level=1)).to_have_text(
            "This link has already been used"
        )
        await expect(again.locator("main")).to_contain_text("it works once")
        cookies = await again_ctx.cookies()
        assert not [c for c in cookies if c["name"] == "drop_session"], cookies
    finally:
        await again_ctx.close()
