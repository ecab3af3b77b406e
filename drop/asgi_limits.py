"""Request body caps as plain ASGI middleware: a body over the cap is answered 413 before it
is read whole, whether it announces its length or arrives in chunks."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_MAX_BODY = 64 * 1024
PROXY_MAX_BODY = 1024 * 1024
# Before a 413, up to this much more is read and thrown away: the server closes a connection
# whose request was not read to its end, which resets it, and a client still sending would
# never see the 413. A client sending more than this is cut off with the answer unread.
LINGER_BYTES = 4 * 1024 * 1024


class BodyTooLarge(Exception):
    """Raised into the app from `receive` once the body passed the cap."""


def _too_large(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "error": f"request body too large: the limit is {limit} bytes",
            "code": "body_too_large",
        }
    ).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    """Caps request bodies at `max_bytes`, or at the cap of the longest matching path prefix."""

    def __init__(self, app: App, max_bytes: int, prefixes: Mapping[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            if declared - limit <= LINGER_BYTES:
                await _linger(receive, more_body=True)
            await _send_all(send, _too_large(limit))
            return
        await _Guarded(self.app, limit, receive, send).run(scope)


class _Guarded:
    """One request: counts the bytes the app receives and answers 413 once they pass `limit`;
    whatever the app tries to send after that is dropped."""

    def __init__(self, app: App, limit: int, receive: Receive, send: Send) -> None:
        self.app, self.limit = app, limit
        self._receive, self._send = receive, send
        self.seen = 0
        self.more_body = True
        self.started = False
        self.refused = False

    async def run(self, scope: Scope) -> None:
        try:
            await self.app(scope, self.receive, self.send)
        except BodyTooLarge:
            await self.refuse()

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.more_body = bool(message.get("more_body", False))
            if self.seen > self.limit:
                await self.refuse()
                raise BodyTooLarge(f"request body over {self.limit} bytes")
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self) -> None:
        if not self.refused and not self.started:
            self.refused = True
            await _linger(self._receive, self.more_body)
            await _send_all(self._send, _too_large(self.limit))


async def _send_all(send: Send, messages: tuple[Message, Message]) -> None:
    for message in messages:
        await send(message)


async def _linger(receive: Receive, more_body: bool) -> None:
    left = LINGER_BYTES
    while more_body and left > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        left -= len(message.get("body", b""))
        more_body = bool(message.get("more_body", False))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 18 else None
    return None
