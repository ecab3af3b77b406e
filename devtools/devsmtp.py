"""A real SMTP server for `make dev` and the tests (aiosmtpd), keeping every message it
accepts in a Maildir: `make dev` prints where, and tests read the messages from there.

    python -m devtools.devsmtp --port 2525 --maildir .data/mail [--refuse-first N]

`--refuse-first N` answers the first N messages with a temporary failure (451), as a
greylisting or overloaded server does, so the sender's retries can be seen working.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    """Accept every message into `maildir`, after refusing the first `refuse_first`."""

    def __init__(self, maildir: Path, refuse_first: int = 0) -> None:
        self.box = mailbox.Maildir(maildir, create=True)
        self.refuse_left = refuse_first
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.refuse_left > 0:
                self.refuse_left -= 1
                return "451 4.3.0 try again later"
            content = envelope.original_content or b""
            self.box.add(mailbox.MaildirMessage(content))
        return "250 OK"


def read_maildir(path: Path) -> list[EmailMessage]:
    """Every message in a Maildir, parsed (tests and the bench read the server's store)."""
    if not path.exists():
        return []
    box = mailbox.Maildir(path, create=False)
    found: list[EmailMessage] = []
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        parsed: Any = message_from_bytes(raw, policy=policy.default)
        found.append(parsed)
    return found


def serve(host: str, port: int, maildir: Path, refuse_first: int = 0) -> Controller:
    controller = Controller(
        MaildirHandler(maildir, refuse_first), hostname=host, port=port, ready_timeout=10
    )
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--refuse-first", type=int, default=0)
    args = parser.parse_args()
    controller = serve(args.host, args.port, args.maildir, args.refuse_first)
    print(f"SMTP on {args.host}:{args.port}; mail kept in {args.maildir.resolve()}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
