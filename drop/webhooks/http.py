"""One webhook attempt over HTTP: short timeouts, at most a few KiB of the answer read,
and the address rule applied to the very address each connection goes to.

Connections go through `GuardedBackend`, which resolves the host itself, refuses private
addresses (unless allowed) and connects to the address it checked, so a name re-pointed
between the check and the connection (DNS rebinding) cannot reach inside. TLS still
verifies the certificate against the URL's host name. Each endpoint has its own small
connection pool, so a hanging endpoint only ever holds its own connections.
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from dataclasses import dataclass

import httpcore

from drop.adapters import http_pool
from drop.webhooks import addresses

# Read this much of an answer at most (its status is what counts).
MAX_ANSWER_BYTES = 4096
CONNECT_TIMEOUT_S = 5.0
CONNECTIONS_PER_ENDPOINT = 8
# An attempt waits this long at most for a free connection to its endpoint (one that
# hangs holds all of them), then counts as failed and backs off.
SLOT_WAIT_S = 30.0
USER_AGENT = "ProductDrop-Webhooks/1"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            found = await addresses.checked(host, port, self.allow_private)
        except addresses.AddressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return await self.inner.connect_tcp(
            str(found[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the status (None when there was no answer) or why not."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Poster:
    """Sends attempts, one connection pool per endpoint."""

    def __init__(self, allow_private: bool, timeout_s: float) -> None:
        self.backend = GuardedBackend(allow_private)
        self.timeout_s = timeout_s
        self.ssl = ssl.create_default_context()
        self.pools: dict[str, httpcore.AsyncConnectionPool] = {}
        # Attempts to one endpoint wait here for one of its connections, outside the
        # attempt's own timeout: a burst to one endpoint queues, it does not time out.
        self.slots: dict[str, asyncio.Semaphore] = {}

    def _pool(self, endpoint_id: str) -> httpcore.AsyncConnectionPool:
        if endpoint_id not in self.pools:
            self.pools[endpoint_id] = httpcore.AsyncConnectionPool(
                ssl_context=self.ssl,
                max_connections=CONNECTIONS_PER_ENDPOINT,
                keepalive_expiry=30.0,
                network_backend=self.backend,
            )
        return self.pools[endpoint_id]

    async def post(
        self, endpoint_id: str, url: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        slot = self.slots.setdefault(endpoint_id, asyncio.Semaphore(CONNECTIONS_PER_ENDPOINT))
        try:
            async with asyncio.timeout(SLOT_WAIT_S):
                await slot.acquire()
        except TimeoutError:
            return Answer(None, f"{CONNECTIONS_PER_ENDPOINT} attempts already in flight")
        try:
            return await self._timed(endpoint_id, url, body, headers)
        finally:
            slot.release()

    async def _timed(
        self, endpoint_id: str, url: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        try:
            addresses.url_host(url)
            async with asyncio.timeout_at(deadline):
                # At the deadline the attempt is given up, not cancelled inside httpcore
                # (which could keep a pool slot, drop.adapters.http_pool): it ends by itself
                # within its own timeouts, reading nothing after the deadline.
                attempt = self._post(endpoint_id, url, body, headers, deadline)
                return await http_pool.detached(attempt)
        except TimeoutError:
            return Answer(None, f"no answer within {self.timeout_s:g}s")
        except addresses.AddressRefused as exc:
            return Answer(None, str(exc))
        except httpcore.TimeoutException as exc:
            return Answer(None, f"timed out: {type(exc).__name__}")
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:300])

    async def _post(
        self, endpoint_id: str, url: str, body: bytes, headers: dict[str, str], deadline: float
    ) -> Answer:
        sent = [
            (b"content-type", b"application/json"),
            (b"user-agent", USER_AGENT.encode()),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ]
        timeouts = {
            "connect": CONNECT_TIMEOUT_S,
            "read": self.timeout_s,
            "write": self.timeout_s,
            "pool": self.timeout_s,
        }
        async with self._pool(endpoint_id).stream(
            "POST", url, headers=sent, content=body, extensions={"timeout": timeouts}
        ) as response:
            read = 0
            async for chunk in response.aiter_stream():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES or asyncio.get_running_loop().time() > deadline:
                    break
            return Answer(response.status)

    async def close(self) -> None:
        pools, self.pools = list(self.pools.values()), {}
        for pool in pools:
            await pool.aclose()
