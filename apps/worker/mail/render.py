"""A message put together: subject, text and HTML from the Jinja templates beside this
module, and the headers that make it one stable, unsubscribable message."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from drop.domain.mail import MailKind

TEMPLATES = Path(__file__).resolve().parent / "templates"

_html = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
_text = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined)

SUBJECTS: dict[MailKind, str] = {
    "entry": "You're in the draw for {product}",
    "won": "You won: {product}. Buy it before your deadline",
    "promoted": "Your turn: {product} is reserved for you",
    "lapsed": "Your window for {product} has closed",
    "not_selected": "The draw for {product} has run",
    "sold_out": "{product} has sold out",
}


@dataclass(frozen=True)
class Letter:
    """What one message says, before it is addressed."""

    kind: MailKind
    product: str
    drop_url: str
    unsubscribe_url: str
    one_click_url: str
    status: dict[str, Any]
    deadline: str = ""
    link: str = ""
    receipt: dict[str, Any] | None = None

    @property
    def subject(self) -> str:
        return SUBJECTS[self.kind].format(product=self.product)

    def context(self) -> dict[str, Any]:
        receipt = json.dumps(self.receipt, indent=2, sort_keys=True) if self.receipt else ""
        return {
            "subject": self.subject,
            "product": self.product,
            "drop_url": self.drop_url,
            "unsubscribe_url": self.unsubscribe_url,
            "status": self.status,
            "deadline": self.deadline,
            "link": self.link,
            "receipt_json": receipt,
        }


def page_url(site: str, path: str, token: str) -> str:
    return f"{site}{path}?token={quote(token, safe='')}"


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the SMTP server: its envelope and its bytes, rendered once."""

    sender: str
    to: str
    data: bytes


# Headers written as they are: no refolding (a folded List-Unsubscribe URL would come back
# with a space in it), CRLF line ends as SMTP wants. Non-ASCII text is still RFC 2047
# encoded, and the bodies are base64, so every line stays far below SMTP's 998.
_WIRE = compat32.clone(max_line_length=0, linesep="\r\n")


def compose(letter: Letter, sender: str, to: str, message_id: str) -> Outgoing:
    """The message in text and HTML, with a stable Message-ID and RFC 8058 one-click
    unsubscribe headers. Built with the plain MIME classes and flattened here, once: the
    header-parsing `EmailMessage` costs several times as much per message."""
    context = letter.context()
    # A boundary of our own, so the generator needs no search (and no fresh regex) for one
    # the bodies lack: "=_" never occurs in base64, and the parts are base64.
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    message = MIMEMultipart("alternative", boundary=boundary)
    name, address = parseaddr(sender)
    # formataddr encodes only a non-ASCII name, never the address beside it.
    message["From"] = formataddr((name, address))
    message["To"] = to
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["List-Unsubscribe"] = f"<{letter.one_click_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    text = _text.get_template(f"{letter.kind}.txt").render(context)
    html = _html.get_template(f"{letter.kind}.html").render(context)
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(message)
    return Outgoing(sender=address, to=to, data=out.getvalue())
