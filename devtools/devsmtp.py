"""A real SMTP server for `make dev` and the tests (aiosmtpd), keeping every message it
accepts in a Maildir: `make dev` prints where, and tests read the messages from there.

    python -m devtools.devsmtp --port 2525 --maildir .data/mail [--refuse-first N]
        [--greylist PREFIX]

`--refuse-first N` answers the first N messages with a temporary failure (451), as an
overloaded server does, so the sender's retries can be seen working. `--greylist PREFIX`
answers 451 the first time each message (by Message-ID) to an address starting with
PREFIX is offered, as greylisting does, and logs its Message-ID (never the address), so a
test can refuse some messages of a batch and not others.
"""

from __future__ import annotations

import argparse
import mailbox
import re
import signal
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*(<[^>]+>)")


class MaildirHandler:
    """Accept every message into `maildir`, after refusing the first `refuse_first` and
    the first offer of each message to an address starting with `greylist`."""

    def __init__(self, maildir: Path, refuse_first: int = 0, greylist: str = "") -> None:
        self.box = mailbox.Maildir(maildir, create=True)
        self.refuse_left = refuse_first
        self.greylist = greylist
        self.offered: set[bytes] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            if self.refuse_left > 0:
                self.refuse_left -= 1
                return "451 4.3.0 try again later"
            if self._greylisted(envelope.rcpt_tos, content):
                return "451 4.7.1 greylisted, try again later"
            # The bytes as received: parsing them into a message to write it out again
            # cost this server more CPU than the sender spends on each message.
            self.box.add(content)
        return "250 OK"

    def _greylisted(self, recipients: list[str], content: bytes) -> bool:
        if not self.greylist or not any(r.startswith(self.greylist) for r in recipients):
            return False
        found = _MESSAGE_ID.search(content)
        msg_id = found.group(1) if found else content
        if msg_id in self.offered:
            return False
        self.offered.add(msg_id)
        print(f"greylisted {msg_id.decode(errors='replace')}", flush=True)
        return True


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


def serve(
    host: str, port: int, maildir: Path, refuse_first: int = 0, greylist: str = ""
) -> Controller:
    controller = Controller(
        MaildirHandler(maildir, refuse_first, greylist), hostname=host, port=port, ready_timeout=10
    )
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--refuse-first", type=int, default=0)
    parser.add_argument("--greylist", default="", help="address prefix to greylist")
    args = parser.parse_args()
    controller = serve(args.host, args.port, args.maildir, args.refuse_first, args.greylist)
    print(f"SMTP on {args.host}:{args.port}; mail kept in {args.maildir.resolve()}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
