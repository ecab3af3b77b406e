"""A message put together: subject, text and HTML from the Jinja templates beside this
module, and the headers that make it one stable, unsubscribable message."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
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
    # The templates ship with the code: no file check on every message.
    auto_reload=False,
)
_text = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,
    undefined=StrictUndefined,
    auto_reload=False,
)

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


CRLF = "\r\n"


def compose(letter: Letter, sender: str, to: str, message_id: str) -> Outgoing:
    """The message in text and HTML, with a stable Message-ID and RFC 8058 one-click
    unsubscribe headers, written straight to bytes.

    Not through the `email` package's classes and generator: they cost about 2 ms a
    message, most of it folding headers (and a refolded List-Unsubscribe URL comes back
    with a space in it), against a tenth of that here. Headers are written whole, each on
    one line; only a non-ASCII value is RFC 2047 encoded. Both bodies are UTF-8 in base64,
    so every line stays far below SMTP's 998 and the message is ASCII."""
    context = letter.context()
    # A boundary of our own: "=_" never occurs in base64, and the parts are base64.
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    name, address = parseaddr(sender)
    text = _text.get_template(f"{letter.kind}.txt").render(context)
    html = _html.get_template(f"{letter.kind}.html").render(context)
    head = [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        # formataddr encodes only a non-ASCII name, never the address beside it.
        ("From", formataddr((name, address))),
        ("To", to),
        ("Subject", letter.subject),
        ("Date", formatdate(localtime=False)),
        ("Message-ID", message_id),
        ("List-Unsubscribe", f"<{letter.one_click_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
    ]
    out = [f"{key}: {_header_value(value)}" for key, value in head]
    for subtype, body in (("plain", text), ("html", html)):
        out += [
            "",
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            _base64_lines(body),
        ]
    out += ["", f"--{boundary}--", ""]
    return Outgoing(sender=address, to=to, data=CRLF.join(out).encode("ascii"))


def _base64_lines(body: str) -> str:
    encoded = base64.b64encode(body.encode()).decode("ascii")
    return CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _header_value(value: str) -> str:
    # A line break in a value (a product name, say) would start a header of its own.
    one_line = " ".join(value.splitlines())
    if one_line.isascii():
        return one_line
    return Header(one_line, "utf-8").encode(linesep=CRLF)
