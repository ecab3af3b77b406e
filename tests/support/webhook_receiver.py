"""A real webhook receiver for tests: a small HTTP/1.1 server on 127.0.0.1 that verifies
every request's signature with the `standardwebhooks` library and records it.

`mode` says how it answers: "ok" (204), "fail" (500), or "hang" (never, until released).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook

Mode = Literal["ok", "fail", "hang"]
MAX_BODY = 1 << 20


@dataclass
class Received:
    id: str
    body: bytes
    payload: dict[str, Any]
    at: float

    @property
    def type(self) -> str:
        return str(self.payload["type"])


@dataclass
class Receiver:
    port: int
    mode: Mode = "ok"
    secret: str = ""
    # Seconds an "ok" or "fail" answer takes.
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    # Requests whose signature did not verify (must stay empty).
    refused: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: int = 0
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)
            self.server = None

    def by_id(self) -> dict[str, list[Received]]:
        found: dict[str, list[Received]] = {}
        for item in self.received:
            found.setdefault(item.id, []).append(item)
        return found

    async def wait_for(self, enough: Any, timeout: float) -> None:
        """Until `enough(self)` is true, woken by each arriving request."""
        deadline = time.monotonic() + timeout
        while not enough(self):
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"receiver on {self.port}: saw {len(self.received)} requests")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = min(int(headers.get("content-length", "0")), MAX_BODY)
            body = await reader.readexactly(length)
            self._record(headers, body)
            if self.mode == "hang":
                self.holding += 1
                self.arrived.set()
                await self.release.wait()
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            status = b"204 No Content" if self.mode == "ok" else b"500 Internal Server Error"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sender gave up, or the test is over
        finally:
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes) -> None:
        msg_id = headers.get("webhook-id", "")
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except Exception as exc:
            self.refused.append(f"{msg_id}: {exc!r}")
        else:
            self.received.append(Received(msg_id, body, payload, time.monotonic()))
        self.arrived.set()


async def started(port: int, mode: Mode = "ok") -> Receiver:
    receiver = Receiver(port, mode)
    await receiver.start()
    return receiver


def bodies_once(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Each webhook-id's payload, checking that every repeat of an id is the same bytes."""
    found = {}
    for msg_id, items in receiver.by_id().items():
        assert len({i.body for i in items}) == 1, f"{msg_id} sent with different bodies"
        found[msg_id] = json.loads(items[0].body)
    return found
