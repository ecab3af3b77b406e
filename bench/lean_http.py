"""A lean keep-alive HTTP/1.1 client on asyncio streams, for benchmark crowds.

httpx spends several times more CPU per request than the servers it measures here (see
docs/benchmarks.md, "Web"), and the crowd's clients share the machine's two cores with the
stack, so the crowd talks through this instead: a fixed pool of connections (its size is
the concurrency), requests written as bytes, responses read by Content-Length.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    seconds: float  # from writing the request to reading the whole answer

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def code(self) -> str:
        """The API's error code (`code` of its error body), for errors by kind."""
        try:
            found = self.json()
        except ValueError:
            return "?"
        if not isinstance(found, dict):
            return "?"
        return str(found.get("code") or found.get("error") or "?")


class ConnectionLost(RuntimeError):
    """The server closed or reset the connection before answering."""


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, keep = 0, False, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if not chunked:
        return status, await reader.readexactly(length), keep
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts), keep
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Pool:
    """`size` keep-alive connections to one server; at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int, timeout_s: float = 60.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]
        self._idle = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)  # opened on first use

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if method != "GET":
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        conn = await self._idle.get()
        keep = False
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            started = time.perf_counter()
            writer.write(raw)
            try:
                async with asyncio.timeout(self.timeout_s):
                    status, answer, keep = await _read(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ConnectionLost(str(exc) or type(exc).__name__) from exc
            return Reply(status, answer, time.perf_counter() - started)
        finally:
            if not keep and conn is not None:
                conn[1].close()
                conn = None
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                conn[1].close()
