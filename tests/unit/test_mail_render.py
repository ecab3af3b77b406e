"""The message bytes the Mailer hands to the SMTP server, rendered once."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default

from apps.worker.mail import render

# Longer than any folding width: a refolded header would come back with a space inside.
ONE_CLICK = "https://drops.example/api/mail/unsubscribe?token=" + "ab%2Ecd" * 40


def _letter(product: str = "Aurora Shell Jacket") -> render.Letter:
    return render.Letter(
        kind="won",
        product=product,
        drop_url="https://drops.example/drop/d1",
        unsubscribe_url="https://drops.example/unsubscribe?token=t",
        one_click_url=ONE_CLICK,
        status={"status": "winner", "deadline": 1},
        deadline="in 4 hours",
        link="https://drops.example/signin?token=" + "x" * 150,
    )


def _parsed(out: render.Outgoing) -> EmailMessage:
    message = email.message_from_bytes(out.data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_come_out_whole_and_stable() -> None:
    out = render.compose(_letter(), "Product Drop <drops@example>", "a@b.example", "<d1.u.won@x>")
    message = _parsed(out)
    assert message["List-Unsubscribe"] == f"<{ONE_CLICK}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == "<d1.u.won@x>"
    assert message["To"] == "a@b.example"
    assert message["Subject"] == "You won: Aurora Shell Jacket. Buy it before your deadline"
    assert (out.sender, out.to) == ("drops@example", "a@b.example")


def test_text_and_html_in_utf8_within_smtp_line_limits() -> None:
    out = render.compose(
        _letter("Jäcke Ünicode"), "Prödüct Drop <drops@example>", "a@b.example", "<m@x>"
    )
    message = _parsed(out)
    assert message["Subject"] == "You won: Jäcke Ünicode. Buy it before your deadline"
    assert message["From"].addresses[0].addr_spec == "drops@example"
    assert message["From"].addresses[0].display_name == "Prödüct Drop"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and "Jäcke Ünicode" in plain.get_content()
    assert html is not None and "Jäcke Ünicode" in html.get_content()
    lines = out.data.split(b"\r\n")
    assert all(b"\n" not in line and len(line) <= 998 for line in lines)
    assert out.data.isascii()
