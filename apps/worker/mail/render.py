"""A message put together: subject, text and HTML from the Jinja templates beside this
module, and the headers that make it one stable, unsubscribable message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
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


def compose(letter: Letter, sender: str, to: str, message_id: str) -> EmailMessage:
    """The message in text and HTML, with a stable Message-ID and RFC 8058 one-click
    unsubscribe headers."""
    context = letter.context()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["List-Unsubscribe"] = f"<{letter.one_click_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_text.get_template(f"{letter.kind}.txt").render(context))
    message.add_alternative(
        _html.get_template(f"{letter.kind}.html").render(context), subtype="html"
    )
    return message
