"""Sending through the SMTP server SMTP_URL names, over a few reused connections.

A failure the server calls permanent (a 5xx answer: no such mailbox, refused sender) is
`Rejected`, which no retry can fix; anything else (a 4xx, a dropped connection, a
timeout) raises, and the Mailer retries it with backoff. Neither ever names the address:
SMTP errors quote it, and addresses stay out of logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiosmtplib

from apps.worker.mail.render import Outgoing
from drop.settings import MailSettings


class Rejected(Exception):
    """The server refused the message for good (5xx)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"refused by the SMTP server ({code})")
        self.code = code


class Unsent(Exception):
    """The message may be sent later (a temporary failure); the cause is not quoted."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    timeout: float

    @classmethod
    def of(cls, mail: MailSettings) -> Server:
        url = urlsplit(mail.smtp_url)
        tls = url.scheme == "smtps" or mail.smtp_security == "tls"
        start_tls: bool | None = {"auto": None, "starttls": True, "tls": False, "none": False}[
            mail.smtp_security
        ]
        return cls(
            host=url.hostname or "localhost",
            port=url.port or (465 if tls else 587),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=tls,
            start_tls=False if tls else start_tls,
            timeout=mail.smtp_timeout_seconds,
        )


@dataclass
class SmtpPool:
    """Up to `size` open connections, each sending one message at a time."""

    server: Server
    size: int
    _idle: asyncio.Queue[aiosmtplib.SMTP] = field(default_factory=asyncio.Queue)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.size)

    @classmethod
    def of(cls, mail: MailSettings) -> SmtpPool:
        return cls(Server.of(mail), mail.smtp_connections)

    async def _open(self) -> aiosmtplib.SMTP:
        s = self.server
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
        )
        await client.connect()
        return client

    async def send(self, message: Outgoing) -> None:
        async with self._slots:
            client = self._idle.get_nowait() if not self._idle.empty() else None
            try:
                if client is None or not client.is_connected:
                    client = await self._open()
                # The bytes as rendered: send_message would flatten (and refold) them again.
                await client.sendmail(message.sender, [message.to], message.data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await _close(client)
                raise _judged(exc.recipients[0].code if exc.recipients else 550) from None
            except aiosmtplib.SMTPResponseException as exc:
                await _close(client)
                raise _judged(exc.code) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _close(client)
                raise Unsent(f"SMTP unavailable ({type(exc).__name__})") from None
            self._idle.put_nowait(client)

    async def close(self) -> None:
        while not self._idle.empty():
            await _close(self._idle.get_nowait())


def _judged(code: int) -> Exception:
    if 500 <= code < 600:
        return Rejected(code)
    return Unsent(f"temporary SMTP failure ({code})")


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is not None and client.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()
