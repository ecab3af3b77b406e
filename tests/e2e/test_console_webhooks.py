"""The console's webhooks in a browser: an operator adds an endpoint and copies its secret,
which is shown on that page only, opens its deliveries, and removes it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from devtools import devstack
from tests.e2e.test_console import console
from tests.support.api_client import ADMIN, DropApi
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_an_operator_adds_reads_and_removes_a_webhook(
    api: DropApi, stack: Stack, browser: Browser
) -> None:
    page = await console(browser, stack.start_app("web"))
    url = f"http://127.0.0.1:{devstack.free_port()}/hooks"
    form = page.locator("#webhook-form")
    await form.get_by_label("Endpoint URL").fill(url)
    await form.get_by_label("drop.created").uncheck()
    await form.get_by_role("button", name="Add webhook").click()
    secret = page.locator("[data-field=webhook-secret]")
    await expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
    shown = await secret.inner_text()
    listed = (await api.client.get("/api/webhooks", headers=ADMIN)).json()["webhooks"]
    mine = next(w for w in listed if w["url"] == url)
    assert "drop.created" not in mine["events"] and len(mine["events"]) == 7
    row = page.locator(f'tr[data-webhook-id="{mine["id"]}"]')
    await expect(row).to_contain_text(url)

    await page.goto("/admin")
    await expect(page.locator("[data-field=webhook-secret]")).to_have_count(0)
    assert shown not in await page.content()

    await page.get_by_role("link", name=url).click()
    await expect(page.get_by_role("heading", name=f"Deliveries of {mine['id']}")).to_be_visible()
    await expect(page.get_by_text("No deliveries yet.")).to_be_visible()
    await page.get_by_role("link", name="Back to the console").click()

    await page.get_by_role("button", name=f"Remove webhook {url}").click()
    await expect(page.get_by_role("status")).to_contain_text("Webhook removed")
    listed = (await api.client.get("/api/webhooks", headers=ADMIN)).json()["webhooks"]
    assert mine["id"] not in {w["id"] for w in listed}
    await page.context.close()
