"""Limits every HTTP server of ours sets on its clients, and why (README "Server limits").

A request head (request line and headers) is small and arrives at once from any real
client: ours send well under 4 KB. A head that takes seconds, or grows past tens of
kilobytes, is an attack on the server's connections or memory (slowloris), so:

- HEAD_TIMEOUT_S: the whole head must arrive within this, from the connection's first
  byte or the previous answer; otherwise the connection is closed (408).
- MAX_HEAD_BYTES / MAX_HEADERS: a longer head, or more header lines, is refused with 431.
- KEEP_ALIVE_S: an idle keep-alive connection is closed after this (the web's pooled
  clients let theirs go sooner, apps/web/retry.py). granian has one knob for both: its
  head timeout also ends an idle connection. Both sit well above the 4-5 s after which
  common clients (httpx, Node's undici) stop reusing a connection: a server that closes an
  idle connection at the moment a client reuses it fails that request (a read error).
- CONNECTIONS_PER_WORKER: how many connections one granian process holds open (it counts
  every open connection, even one still sending its head, against this). Granian's
  default (backlog / workers = 1024) let 1,100 slow heads from one address hold every
  place; far more than that get through the head timeout before they can gather.

Neither server can count connections per client address (behind Fly's proxy and the web
every connection comes from a proxy anyway); the per-address limits that matter are in
the apps (drop.client_address), and the edge in front (Fly's proxy, HAProxy) caps
connections per machine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from granian.http import HTTP1Settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADERS = 100
KEEP_ALIVE_S = 10
CONNECTIONS_PER_WORKER = 16_384
BACKLOG = 2048

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def granian_http1() -> HTTP1Settings:
    """The api's HTTP/1 limits (granian, hyper underneath: its head limit counts the whole
    read buffer, and it allows 100 headers)."""
    return HTTP1Settings(
        header_read_timeout=int(HEAD_TIMEOUT_S * 1000),
        keep_alive=True,
        max_buffer_size=MAX_HEAD_BYTES,
    )


def uvicorn_options() -> dict[str, Any]:
    """The sse's and the web's limits (uvicorn: httptools with BoundedHead)."""
    return {"http": BoundedHead, "timeout_keep_alive": KEEP_ALIVE_S, "backlog": BACKLOG}


class _HeadRefused(Exception):
    """Raised from a parser callback: uvicorn then closes the connection with our answer."""


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size bound on every request
    head: on its own it waits for a head forever and buffers it whole, however large."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_seq = 0
        self._in_head = False
        self._refusal: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head()
        super().connection_lost(exc)

    def _start_head(self) -> None:
        self._stop_head()
        self._in_head, self._head_bytes = True, 0
        self._head_seq += 1
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._refuse, 408)

    def _stop_head(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        seq = self._head_seq if self._in_head else None
        super().data_received(data)
        # Counted after parsing, and only while the same head is still unfinished: a chunk
        # that completes the head (and carries the start of a body) is no head bytes.
        if seq is not None and self._in_head and self._head_seq == seq:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431)

    def on_message_begin(self) -> None:
        if not self._in_head:  # the first head's clock started with the connection
            self._start_head()
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADERS:
            self._refusal = 431
            raise _HeadRefused(f"more than {MAX_HEADERS} headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(self._refusal)

    def _refuse(self, status: int) -> None:
        self._stop_head()
        if self.transport.is_closing():
            return
        reason = REASONS[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason, len(reason), reason)
        )
        self.transport.close()
