"""Mail on the real stack: a real local SMTP server (devtools.devsmtp) receives what the
worker sends; the messages are read back from its Maildir."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.devsmtp import read_maildir
from drop.adapters.nats_bus import Bus
from drop.domain import receipts
from tests.support.api_client import ADMIN, DropApi, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

LINK = re.compile(r"https?://\S+/signin\?token=[A-Za-z0-9%._-]+")


@pytest.fixture(scope="module")
def mail_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("mail"))
    try:
        s.start_servers()
        s.start_smtp()
        s.start_app("worker")
        s.start_app("api")
        s.start_app("web")
        yield s
    finally:
        s.stop()


@pytest.fixture
async def mail_api(mail_stack: Stack) -> AsyncIterator[DropApi]:
    async with httpx.AsyncClient(base_url=mail_stack.url("api"), timeout=60) as client:
        yield DropApi(client)


@pytest.fixture
async def mail_bus(mail_stack: Stack) -> AsyncIterator[Bus]:
    b = await mail_stack.connect_bus("mail-tests")
    yield b
    await b.close()


def mails(stack: Stack, to: str) -> list[EmailMessage]:
    return [m for m in read_maildir(stack.maildir) if m["To"] == to]


async def mail_of(stack: Stack, to: str, subject_has: str, timeout: float = 60) -> EmailMessage:
    async def arrived() -> EmailMessage:
        found = [m for m in mails(stack, to) if subject_has in str(m["Subject"])]
        assert found, f"mails to {to}: {[str(m['Subject']) for m in mails(stack, to)]}"
        return found[0]

    what = f"a mail to {to} about {subject_has!r}"
    return await eventually_async(arrived, what=what, timeout=timeout, interval=0.2)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(0)


async def test_a_winner_is_mailed_a_receipt_then_a_link_that_signs_in_once(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    drop_id, user, email = uid("mail"), uid("w"), f"{uid('a')}@example.com"
    await mail_api.create(drop_id, inventory=1, purchaseWindow=60, productName="Mail Jacket")
    r = await mail_api.register(drop_id, user, 1, email=email)
    assert r.status_code == 200, r.text

    entry = await mail_of(mail_stack, email, "in the draw")
    # The entry mail carries a receipt signed by the service's receipt key.
    signed = re.search(r"\{.*\}", text_of(entry), re.S)
    assert signed is not None
    receipt = receipts.Receipt.from_wire(json.loads(signed.group(0)))
    assert receipt.user_id == user and receipt.drop_id == drop_id
    key = receipts.signer_for(mail_stack.receipt_key).key
    assert receipt.signed_by(key)

    await mail_api.draw_after_close(mail_bus, drop_id)
    won = await mail_of(mail_stack, email, "You won")
    assert won["Message-ID"] == f"<{drop_id}.{user}.won@localhost>"
    assert won["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<https?://\S+/api/mail/unsubscribe\?token=\S+>", won["List-Unsubscribe"])
    assert "Mail Jacket" in text_of(won) and "UTC" in text_of(won)
    assert won.get_body(("html",)) is not None

    link = link_in(won)
    token = parse_qs(urlsplit(link).query)["token"][0]
    web = mail_stack.url("web")
    async with httpx.AsyncClient(base_url=web, timeout=30) as device:
        page = await device.get(f"/signin?token={token}")
        assert page.status_code == 200 and "Sign in and buy" in page.text
        signed_in = await device.post("/signin", data={"token": token})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == f"/drop/{drop_id}"
        me = await device.get(f"/api/drop/{drop_id}/me/{user}")
        assert me.status_code == 200 and me.json()["status"] == "winner", me.text
        start = await device.post(f"/api/drop/{drop_id}/purchase/start", json={"userId": user})
        assert start.status_code == 200, start.text
    async with httpx.AsyncClient(base_url=web, timeout=30) as other:
        again = await other.post("/signin", data={"token": token})
        assert again.status_code == 409
        assert "already been used" in again.text
        assert "drop_session" not in again.headers.get("set-cookie", "")
    # Only the two messages, each once.
    subjects = sorted(str(m["Subject"]) for m in mails(mail_stack, email))
    assert len(subjects) == 2, subjects


async def test_one_click_unsubscribe_holds_for_later_drops(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    user, email = uid("u"), f"{uid('b')}@example.com"
    first, later = uid("mail"), uid("mail")
    await mail_api.create(first, inventory=1)
    assert (await mail_api.register(first, user, 1, email=email)).status_code == 200
    entry = await mail_of(mail_stack, email, "in the draw")
    one_click = entry["List-Unsubscribe"].strip("<>")
    # What a mail client does for RFC 8058 one-click: a POST with this exact body.
    async with httpx.AsyncClient(timeout=30) as mail_client:
        done = await mail_client.post(one_click, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and done.json()["unsubscribed"] is True

    await mail_api.create(later, inventory=1)
    r = await mail_api.register(later, user, 1, email=email)
    assert r.status_code == 200
    await mail_api.draw_after_close(mail_bus, later)
    # The draw's mail would be sent by now to a subscribed winner: a neighbour proves it.
    neighbour, address = uid("n"), f"{uid('c')}@example.com"
    control = uid("mail")
    await mail_api.create(control, inventory=1)
    assert (await mail_api.register(control, neighbour, 1, email=address)).status_code == 200
    await mail_api.draw_after_close(mail_bus, control)
    await mail_of(mail_stack, address, "You won")
    assert [str(m["Subject"]) for m in mails(mail_stack, email)] == [str(entry["Subject"])]


async def test_bad_addresses_and_links_are_refused_with_reasons(
    mail_stack: Stack, mail_api: DropApi
) -> None:
    drop_id = uid("mail")
    await mail_api.create(drop_id)
    for bad in ("not-an-email", "a@", "@nowhere.test", "x" * 250 + "@nowhere.test", "a b@c.d"):
        r = await mail_api.register(drop_id, uid("bad"), 1, email=bad)
        assert r.status_code == 400, (bad, r.text)
        assert [d["path"] for d in r.json()["details"]] == ["email"], r.text
        assert bad not in r.text
    client = mail_api.client
    forged = await client.post("/api/session/link", json={"token": "abc.def"})
    assert forged.status_code == 400 and forged.json()["code"] == "link_invalid"
    assert (await client.post("/api/session/link", json={})).status_code == 400
    bad_unsub = await client.post("/api/mail/unsubscribe", params={"token": "abc.def"})
    assert bad_unsub.status_code == 400 and bad_unsub.json()["code"] == "unsubscribe_invalid"
    async with httpx.AsyncClient(base_url=mail_stack.url("web"), timeout=30) as web:
        assert (await web.get("/signin")).status_code == 400
        refused = await web.post("/signin", data={"token": "abc.def"})
        assert refused.status_code == 400 and "not valid" in refused.text


async def test_orders_export_names_each_buyer_with_their_email(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    drop_id, buyer, quiet = uid("orders"), uid("b"), uid("q")
    email = f"{uid('buyer')}@example.com"
    await mail_api.create(drop_id, inventory=2, purchaseWindow=60, productName="Export Tee")
    assert (await mail_api.register(drop_id, buyer, 1, email=email)).status_code == 200
    assert (await mail_api.register(drop_id, quiet, 1)).status_code == 200
    await mail_api.draw_after_close(mail_bus, drop_id)
    bought = [await mail_api.buy(drop_id, u) for u in (buyer, quiet)]
    client = mail_api.client
    assert (await client.get(f"/api/drops/{drop_id}/orders")).status_code == 401
    as_json = await client.get(f"/api/drops/{drop_id}/orders", headers=ADMIN)
    assert as_json.status_code == 200, as_json.text
    rows = {o["userId"]: o for o in as_json.json()["orders"]}
    assert {o["orderId"] for o in rows.values()} == {b["orderId"] for b in bought}
    assert rows[buyer]["email"] == email and rows[quiet]["email"] is None
    assert rows[buyer]["item"] == "Export Tee" and rows[buyer]["variantId"] is None
    assert rows[buyer]["amount"] == 1 and rows[buyer]["time"].endswith("+00:00")
    as_csv = await client.get(
        f"/api/drops/{drop_id}/orders", headers={**ADMIN, "Accept": "text/csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().split("\r\n")
    assert lines[0] == "orderId,userId,email,item,variantId,amount,time"
    assert len(lines) == 3 and any(email in line for line in lines[1:])
    missing = await client.get(f"/api/drops/{uid('none')}/orders", headers=ADMIN)
    assert missing.status_code == 404
    # The console's button: the same CSV, for a signed-in console only.
    async with httpx.AsyncClient(base_url=mail_stack.url("web"), timeout=30) as console:
        anonymous = await console.get(f"/admin/orders.csv?dropId={drop_id}")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/admin"
        login = await console.post("/admin/login", data={"secret": "test-admin-secret"})
        assert login.status_code == 303
        download = await console.get(f"/admin/orders.csv?dropId={drop_id}")
        assert download.status_code == 200, download.text
        assert "attachment" in download.headers["content-disposition"]
        assert download.text == as_csv.text
        page = await console.get("/admin")
        assert 'id="orders-download"' in page.text
