"""Mailer (key = `dropId:userId:kind`): one message, sent once; and the delivery of one
message that the mail feed's batches (`MailFanout`, fanout.py) share.

The mail feed sends through `MailFanout` (one invocation per batch); `Mailer.send` stays
for invocations made before it. Its whole delivery is one journaled step: read the
address, write the message, hand it to the SMTP server. The address is read inside the
step and never leaves it, so it is in no journal, state or log; the step records only the
outcome. A failed step is retried with backoff; a crash after the server took the message
but before the step was journaled sends it again, with the same Message-ID, so the copy is
recognisably the same message. Once sent (or found to have no one to go to) the key
remembers it for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import restate

from apps.worker import retries
from apps.worker.mail import render
from apps.worker.mail.smtp import Rejected, Unsent
from apps.worker.runtime import WorkerRuntime, current
from apps.worker.typed import handler
from drop import events
from drop.adapters.contact_store import ContactStore, address_tag
from drop.domain import mail, receipts, tokens
from drop.domain.mail import MailKind
from drop.durable import MailIn, MailOut

log = logging.getLogger("worker.mail")

# SMTP servers refuse for a while (greylisting, rate limits, an outage): keep trying for
# about a day, the gap growing to ten minutes; a message still unsent is paused, not lost.
MAIL_RETRIES = retries.pause_after(timedelta(seconds=1), timedelta(minutes=10), 160)
STEP_RETRIES: restate.RunOptions[str] = restate.RunOptions(
    initial_retry_interval=timedelta(seconds=1),
    retry_interval_factor=2.0,
    max_retry_interval=timedelta(minutes=10),
)

mailer = restate.VirtualObject("Mailer", invocation_retry_policy=MAIL_RETRIES)

SENT = "sent"


@handler(mailer)
async def send(ctx: restate.ObjectContext, req: MailIn) -> MailOut:
    done = await ctx.get(SENT, type_hint=str)
    if done:
        return MailOut(outcome=done)

    async def deliver() -> str:
        async with gate(current().mail.smtp_connections):
            return await deliver_now(req)

    outcome = await ctx.run_typed("deliver", deliver, STEP_RETRIES)
    ctx.set(SENT, outcome)
    return MailOut(outcome=outcome)


async def deliver_now(req: MailIn) -> str:
    """Send the message if its person can be reached; what happened, without the address."""
    rt = current()
    if rt.smtp is None:
        return "mail off"
    if req.kind not in mail.MAIL_KINDS:
        return "unknown kind"
    kind: MailKind = req.kind
    contact = await ContactStore(rt.bus).get(req.user_id)
    if contact is None:
        return "no address"
    if contact.unsubscribed:
        return "unsubscribed"
    product = await _product_name(rt, req.drop_id)
    letter = _letter(rt, req, kind, product, address_tag(contact.email))
    msg_id = mail.message_id(req.drop_id, req.user_id, kind, rt.mail.mail_from)
    try:
        await rt.smtp.send(render.compose(letter, rt.mail.mail_from, contact.email, msg_id))
    except Rejected as exc:
        log.warning("mail %s to %s refused for good (%s)", kind, req.user_id, exc.code)
        return f"rejected {exc.code}"
    except Unsent as exc:
        log.warning("mail %s to %s not sent yet: %s", kind, req.user_id, exc)
        raise
    return f"sent {msg_id}"


_gates: list[asyncio.Semaphore] = []


def gate(connections: int) -> asyncio.Semaphore:
    """Deliveries under way in this process at once: a few per SMTP connection. Without it,
    every invocation Restate starts reads its address from NATS together, and thousands of
    reads at once time out (and are retried) instead of being served."""
    if not _gates:
        _gates.append(asyncio.Semaphore(connections * 2))
    return _gates[0]


# Product names by dropId, read once per PRODUCT_TTL_S: a draw mails thousands at once.
PRODUCT_TTL_S = 30.0
_products: dict[str, tuple[float, str]] = {}


async def _product_name(rt: WorkerRuntime, drop_id: str) -> str:
    now = time.monotonic()
    known = _products.get(drop_id)
    if known is not None and now - known[0] < PRODUCT_TTL_S:
        return known[1]
    drop = await rt.bus.get_json(events.DROPS_INDEX_BUCKET, drop_id)
    product = str(((drop or {}).get("data") or {}).get("productName") or "your drop")
    if len(_products) > 1000:
        _products.clear()
    _products[drop_id] = (now, product)
    return product


def _letter(
    rt: WorkerRuntime, req: MailIn, kind: MailKind, product: str, tag: str
) -> render.Letter:
    site, secret = rt.mail.site, rt.secrets.session_secret
    unsubscribe = tokens.sign_unsubscribe(secret, req.user_id, tag)
    status = dict(req.status)
    deadline_ms = status.get("deadline")
    deadline, link = "", ""
    if kind in mail.WITH_LINK and isinstance(deadline_ms, int):
        deadline = mail.plain_deadline(deadline_ms, req.at_ms)
        nonce = mail.link_nonce(req.drop_id, req.user_id, kind, deadline_ms)
        signed = tokens.sign_link(secret, req.drop_id, req.user_id, deadline_ms, nonce)
        link = render.page_url(site, "/signin", signed)
    receipt = None
    if kind == "entry":
        signer = receipts.signer_for(rt.secrets.receipt_signing_key)
        tickets, effective = (
            int(str(status.get("tickets", 0))),
            int(str(status.get("effectiveTickets", 0))),
        )
        receipt = signer.sign(req.drop_id, req.user_id, tickets, effective, req.at_ms).to_wire()
    return render.Letter(
        kind=kind,
        product=product,
        drop_url=f"{site}/drop/{req.drop_id}",
        unsubscribe_url=render.page_url(site, "/unsubscribe", unsubscribe),
        one_click_url=render.page_url(site, "/api/mail/unsubscribe", unsubscribe),
        status=status,
        deadline=deadline,
        link=link,
        receipt=receipt,
    )
