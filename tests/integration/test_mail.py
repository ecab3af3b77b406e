"""Mail on the real stack: a real local SMTP server (devtools.devsmtp) receives what the
worker sends; the messages are read back from its Maildir."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apps.worker.mail import fanout
from devtools.devsmtp import read_maildir
from drop import deployments, durable
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import RestateIngress
from drop.domain import receipts
from tests.support.api_client import ADMIN, DropApi, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

LINK = re.compile(r"https?://\S+/signin\?token=[A-Za-z0-9%._-]+")
GREY = "grey-"
MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*<([^>]+)>")


@pytest.fixture(scope="module")
def mail_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("mail"))
    try:
        s.start_servers()
        # The server refuses the first two messages (451, as an overloaded server does): the
        # first test's mail arrives only if it is retried. It also greylists (451 on the
        # first offer of each message) addresses starting with GREY.
        s.start_smtp(refuse_first=2, greylist=GREY)
        # Mail is sent by a worker of its own (WORKER_ROLE=notifications), as in production.
        s.split_workers()
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


def test_each_worker_role_registers_only_its_own_services(mail_stack: Stack) -> None:
    served = {
        d.uri.split("/v/")[0]: d.services
        for d in deployments.deployments(deployments.http_admin(mail_stack.admin_url))
    }
    notifications = {"Mailer", "MailFanout", "WebhookDelivery", "WebhookFanout"}
    assert served[mail_stack.url("worker-notifications")] == notifications
    drops = served[mail_stack.url("worker")]
    assert {"Drop", "Participant", "Settlement"} <= drops and not drops & notifications
    # The mail and webhook feeds run beside the services they feed, not in the drop's worker.
    assert "mail is on" in mail_stack.log("worker-notifications").read_text()
    assert "mail is on" not in mail_stack.log("worker").read_text()


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
        assert signed_in.status_code == 200
        assert f'data-drop-id="{drop_id}"' in signed_in.text
        assert f'data-user-id="{user}"' in signed_in.text
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
    # The feed read on without a hitch, its idle fetches included.
    assert "mail feed interrupted" not in mail_stack.log("worker-notifications").read_text()


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


def message_ids_by_kind(stack: Stack, addresses: dict[str, str]) -> dict[str, list[str]]:
    """Every Message-ID the server holds for these people (userId → address), in order."""
    by_address = {a: u for u, a in addresses.items()}
    found: dict[str, list[str]] = {}
    for message in read_maildir(stack.maildir):
        user = by_address.get(str(message["To"]))
        if user is not None:
            found.setdefault(user, []).append(str(message["Message-ID"]))
    return found


def outcome_count(stack: Stack, drop_id: str) -> int:
    """How many messages of the drop other than entry confirmations the server holds."""
    found = 0
    for path in (stack.maildir / "new").glob("*"):
        head = MESSAGE_ID.search(path.read_bytes()[:4096])
        msg_id = head.group(1).decode() if head else ""
        found += msg_id.startswith(f"{drop_id}.") and ".entry@" not in msg_id
    return found


async def test_a_worker_killed_mid_sending_loses_nothing_and_repeats_only_by_message_id(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    drop_id, crowd = uid("crash"), 240
    await mail_api.create(
        drop_id, inventory=20, purchaseWindow=600, registrationEnd=now_ms() + 20_000
    )
    people = {uid("p"): f"{uid('k')}@example.com" for _ in range(crowd)}
    entries = list(people.items())
    for first in range(0, crowd, 20):
        answers = await asyncio.gather(
            *(mail_api.register(drop_id, u, 1, email=a) for u, a in entries[first : first + 20])
        )
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    async with events(mail_bus, f"drop.{drop_id}.state") as log:
        drawn = await log.phase(drop_id, "purchase", timeout=60)
    # Everyone is told they entered; winners and those not drawn hear the outcome; backups
    # wait (their mail comes when a window lapses or the drop ends).
    expected = 2 * crowd - int(drawn["backupWinnerCount"])

    async def some_outcomes_sent() -> None:
        # Headers only, from the files: the outcomes go out fast, and parsing every
        # message at each look would miss the moment they are under way.
        outcomes = outcome_count(mail_stack, drop_id)
        assert 0 < outcomes < crowd - 80, outcomes

    await eventually_async(
        some_outcomes_sent, what="the draw's mail under way", timeout=60, interval=0.02
    )
    mail_stack.restart("worker-notifications", kill=True)

    async def all_sent() -> dict[str, list[str]]:
        sent = message_ids_by_kind(mail_stack, people)
        distinct = {i for ids in sent.values() for i in ids}
        assert len(distinct) == expected, (len(distinct), expected)
        return sent

    sent = await eventually_async(all_sent, what="every message", timeout=120, interval=0.5)
    for user, ids in sent.items():
        kinds = {i.split(".")[2].split("@")[0] for i in ids}
        assert "entry" in kinds and kinds <= {"entry", "won", "not_selected"}, (user, ids)
        assert all(i.startswith(f"<{drop_id}.{user}.") for i in ids)
    repeats = sum(len(ids) for ids in sent.values()) - expected
    # A crash between the server's OK and the journal may send a message again, always
    # under its own Message-ID; never more than the groups of messages (MailFanout's
    # GROUP, one journaled step, IN_FLIGHT of them) under way when it died.
    assert repeats <= fanout.GROUP * fanout.IN_FLIGHT, repeats


async def test_refused_messages_of_a_batch_are_retried_alone_and_each_arrives_once(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    drop_id = uid("grey")
    await mail_api.create(
        drop_id, inventory=4, purchaseWindow=600, registrationEnd=now_ms() + 8_000
    )
    # Half the crowd is greylisted: the server refuses each of their messages once.
    people = {uid("g"): f"{GREY if n % 2 else ''}{uid('m')}@example.com" for n in range(10)}
    for user, address in people.items():
        assert (await mail_api.register(drop_id, user, 1, email=address)).status_code == 200
    async with events(mail_bus, f"drop.{drop_id}.state") as log:
        drawn = await log.phase(drop_id, "purchase", timeout=60)
    # The draw's outcomes come to the feed together: one batch where some messages go at
    # once and the greylisted ones only on a retry.
    expected = 2 * len(people) - int(drawn["backupWinnerCount"])

    async def all_in() -> dict[str, list[str]]:
        sent = message_ids_by_kind(mail_stack, people)
        assert sum(len(set(ids)) for ids in sent.values()) == expected, sent
        return sent

    sent = await eventually_async(all_in, what="every message", timeout=90, interval=0.5)
    # Each exactly once: a retry resent only the refused messages, never their batch's.
    assert sum(len(ids) for ids in sent.values()) == expected, sent
    refused = mail_stack.log("smtp").read_text()
    for user, address in people.items():
        for msg_id in sent[user]:
            assert (f"greylisted {msg_id}" in refused) == address.startswith(GREY), msg_id


async def test_a_message_in_a_second_batch_is_not_sent_again(
    mail_stack: Stack, mail_api: DropApi
) -> None:
    drop_id, user, address = uid("again"), uid("r"), f"{uid('again')}@example.com"
    # Open for the whole test: no draw, so the entry mail is all the two people get.
    await mail_api.create(drop_id, inventory=1, registrationEnd=now_ms() + 600_000)
    assert (await mail_api.register(drop_id, user, 1, email=address)).status_code == 200
    await mail_of(mail_stack, address, "in the draw")
    later, witness = uid("l"), f"{uid('later')}@example.com"
    assert (await mail_api.register(drop_id, later, 1, email=witness)).status_code == 200
    await mail_of(mail_stack, witness, "in the draw")
    # Both messages again in one batch of their own (as events delivered again after a
    # crash and cut differently would bring them), with a third, new message.
    third = f"{drop_id}.{later}.lapsed"
    again = durable.MailBatch(
        messages=[
            durable.MailIn(drop_id=drop_id, user_id=user, kind="entry", status={"tickets": 1}),
            durable.MailIn(drop_id=drop_id, user_id=later, kind="entry", status={"tickets": 1}),
            durable.MailIn(
                drop_id=drop_id, user_id=later, kind="lapsed", status={"rolloverEarned": 0}
            ),
        ]
    )
    ingress = RestateIngress.create(mail_stack.ingress_url, 30.0)
    try:
        await ingress.call(durable.MAIL_DISPATCH, again, idempotency_key=uid("batch"))
    finally:
        await ingress.close()
    # The call ends once its messages are sent: the new one is in, the others not again.
    entry = f"<{drop_id}.{later}.entry@localhost>"
    assert sorted(str(m["Message-ID"]) for m in mails(mail_stack, witness)) == [
        entry,
        f"<{third}@localhost>",
    ]
    assert len(mails(mail_stack, address)) == 1


async def test_no_address_appears_anywhere_public_after_a_drop_with_emails(
    mail_stack: Stack, mail_api: DropApi, mail_bus: Bus
) -> None:
    drop_id, token = uid("private"), uid("t").replace("-", "")
    people = {uid("v"): f"secret.{token}.{n}@example.com" for n in range(6)}
    await mail_api.create(drop_id, inventory=2, purchaseWindow=30)
    for user, address in people.items():
        assert (await mail_api.register(drop_id, user, 1, email=address)).status_code == 200
    await mail_api.draw_after_close(mail_bus, drop_id)
    winners = [u for u in people if (await mail_api.me(drop_id, u))["status"] == "winner"]
    await mail_api.buy(drop_id, winners[0])
    # Wait until the draw's mail is out: everything that mail touches has happened.
    await mail_of(mail_stack, people[winners[0]], "You won")

    seen: list[str] = []
    client = mail_api.client
    paths = [
        "/api/drops/active",
        f"/api/drop/{drop_id}/status",
        f"/api/drop/{drop_id}/lottery-proof",
        f"/api/drop/{drop_id}/lottery-proof?participants=true",
        "/api/fairness/key",
        "/health",
        "/openapi.json",
    ]
    for user in people:
        paths += [
            f"/api/drop/{drop_id}/inclusion-proof/{user}",
            f"/api/participant/{drop_id}:{user}/status",
        ]
    for path in paths:
        seen.append((await client.get(path)).text)
    for user in people:
        seen.append(json.dumps(await mail_api.me(drop_id, user)))
    async with httpx.AsyncClient(base_url=mail_stack.url("web"), timeout=30) as web:
        for path in ("/", f"/drop/{drop_id}", f"/api/drop/{drop_id}/status"):
            seen.append((await web.get(path)).text)
    async with httpx.AsyncClient(timeout=10) as scraper:
        for app in ("api", "worker", "web"):
            seen.append((await scraper.get(f"{mail_stack.metrics_url(app)}/metrics")).text)
    seen.append(await every_stored_message(mail_bus, skip={"KV_contacts"}))
    for log_file in mail_stack.root.glob("*.log"):
        seen.append(log_file.read_text(errors="replace"))
    everything = "\n".join(seen)
    assert token not in everything
    assert f"{drop_id}" in everything  # the scan did read the drop's data


async def every_stored_message(bus: Bus, skip: set[str]) -> str:
    """The raw bytes of every message in every JetStream stream (events, KV mirrors, the
    proofs store), but `skip`."""
    out: list[str] = []
    for info in await bus.js.streams_info():
        name = info.config.name
        if name in skip or name is None:
            continue
        last = info.state.last_seq
        for seq in range(info.state.first_seq, last + 1):
            try:
                raw = await bus.js.get_msg(name, seq)
            except Exception:  # deleted or expired in between
                continue
            out.append((raw.data or b"").decode(errors="replace"))
    return "\n".join(out)
