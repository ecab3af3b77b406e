"""A small client for Restate's HTTP ingress (calls durable handlers) and admin API."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from drop import metrics, tracing
from drop.adapters import http_pool
from drop.adapters.failover import LinkJudge
from drop.durable import Target
from drop.settings import url_list

log = logging.getLogger("restate_ingress")
In = TypeVar("In")
Out = TypeVar("Out")

# What clients are told when the durable layer fails; the detail goes to the log only.
UNAVAILABLE = "the service is temporarily unavailable; try again"
TIMED_OUT = "the service took too long to answer; try again"
FAILED = "the service could not complete the request; try again"
REFUSED = "the request was refused"


def ingress_path(target: Target[Any, Any], key: str | None = None) -> str:
    """The ingress path that calls `target` (on the object `key`); `/send` after it sends."""
    if key is None:
        return f"/{target.service}/{target.handler}"
    return f"/{target.service}/{key}/{target.handler}"


class DurableCallError(Exception):
    """A durable handler answered with an error; `status` is kept for the HTTP answer."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# Failures after which the request surely never reached a node: safe to send elsewhere.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
# Failures after which it may have: sent elsewhere only with an idempotency key, which makes
# Restate run the handler once however many nodes receive it.
_MAYBE_SENT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
# A node that does not accept a connection this fast is treated as gone.
CONNECT_TIMEOUT_S = 2.0


@dataclass
class RestateIngress:
    """Calls `POST {ingress}/{service}/{key}/{handler}` and maps failures to status codes.

    With several ingress nodes (one client each), calls go to the current node and move on
    to the next one when it cannot be reached, or when its answers keep timing out or coming
    slowly (`failover.LinkJudge`); every node routes to the right partition."""

    clients: list[httpx.AsyncClient]
    current: int = 0
    judge: LinkJudge = field(default_factory=LinkJudge)

    @classmethod
    def create(cls, base_urls: str, timeout_s: float) -> RestateIngress:
        """`base_urls`: one ingress URL, or several of a cluster, comma separated."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        clients = [
            http_pool.client(base_url=url, timeout=timeout, limits=limits)
            for url in url_list(base_urls)
        ]
        if not clients:
            raise ValueError("RESTATE_INGRESS_URL names no server")
        # Each API process starts on its own node, so a crowd spreads over the cluster.
        return cls(clients, random.randrange(len(clients)))

    async def _post(
        self, path: str, payload: Any, headers: dict[str, str], *, resend: bool
    ) -> httpx.Response:
        """POST on the current node, failing over to the next while it is safe: always when
        the request was not sent, and when `resend` also when it may have been."""
        safe = (*_NOT_SENT, *_MAYBE_SENT) if resend else _NOT_SENT
        for step in range(len(self.clients)):
            index = (self.current + step) % len(self.clients)
            client = self.clients[index]
            started = time.monotonic()
            try:
                response = await client.post(path, json=payload, headers=headers)
            except httpx.TimeoutException:
                self._judge(index, started, timed_out=True)
                raise
            except safe as exc:
                if step == len(self.clients) - 1:
                    raise
                log.warning("restate ingress %s failed (%r); trying the next", client.base_url, exc)
                continue
            self.current = index
            self._judge(index, started, timed_out=False)
            return response
        raise AssertionError("no ingress client")  # create() refuses an empty list

    def _judge(self, index: int, started: float, timed_out: bool) -> None:
        """Leave the node at `index` for another when its answers are too slow."""
        now = time.monotonic()
        if len(self.clients) < 2 or not self.judge.observe(started, now, timed_out):
            return
        urls = [str(c.base_url) for c in self.clients]
        log.warning("restate ingress %s answers too slowly; moving to another", urls[index])
        self.judge.leave(urls[index], now)
        self.current = urls.index(self.judge.choose(urls, urls[index], now))
        self.judge.joined(now)

    async def call(
        self,
        target: Target[In, Out],
        payload: In,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Out:
        """Call the handler and read its answer as the contract says it is."""
        service, handler = target.service, target.handler
        path = ingress_path(target, key)
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            with tracing.client_span(f"{service}.{handler}", headers):
                body = target.wire(payload)
                response = await self._post(path, body, headers, resend=bool(idempotency_key))
            outcome = _outcome(response.status_code)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            log.warning("durable call %s.%s timed out: %r", service, handler, exc)
            raise DurableCallError(504, TIMED_OUT, "durable_timeout") from exc
        except httpx.TransportError as exc:
            outcome = "unreachable"
            log.warning("durable layer unreachable calling %s.%s: %r", service, handler, exc)
            raise DurableCallError(503, UNAVAILABLE, "durable_unavailable") from exc
        finally:
            metrics.DURABLE_CALLS.labels(f"{service}.{handler}", outcome).observe(
                time.perf_counter() - started
            )
        if response.is_success:
            return target.decode(response.content)
        raise _error_from(response, f"{service}.{handler}")

    async def send(
        self,
        target: Target[In, Out],
        payload: In,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Fire-and-forget invocation (Restate accepts it durably before answering); with
        `idempotency_key`, sending it again starts nothing new."""
        service, handler = target.service, target.handler
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        try:
            response = await self._post(
                f"{ingress_path(target, key)}/send",
                target.wire(payload),
                headers,
                resend=bool(idempotency_key),
            )
        except httpx.TransportError as exc:
            log.warning("durable layer unreachable sending %s.%s: %r", service, handler, exc)
            raise DurableCallError(503, UNAVAILABLE, "durable_unavailable") from exc
        if not response.is_success:
            raise _error_from(response, f"{service}.{handler}")

    async def healthy(self) -> bool:
        """Whether some ingress node answers its health check (it becomes the current one)."""
        for step in range(len(self.clients)):
            index = (self.current + step) % len(self.clients)
            try:
                response = await self.clients[index].get("/restate/health", timeout=2.0)
            except httpx.HTTPError:
                continue
            if response.is_success:
                self.current = index
                return True
        return False

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "refused" if status < 500 else "error"


def _error_from(response: httpx.Response, call: str) -> DurableCallError:
    """Our handlers' refusals ("code: message", 4xx) reach the client as they are; anything
    else (the durable layer's own errors, every 5xx) is logged and answered generically."""
    message = response.text
    code: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    if ": " in message:
        head, _, rest = message.partition(": ")
        if head.isidentifier():
            code, message = head, rest
    status = response.status_code
    if 400 <= status < 500 and code is not None:
        return DurableCallError(status, message, code)
    log.warning("durable call %s failed with %s: %s", call, status, response.text[:1000])
    if 400 <= status < 500:
        return DurableCallError(status, REFUSED, "refused")
    if status == 503:
        return DurableCallError(503, UNAVAILABLE, "durable_unavailable")
    if status == 504:
        return DurableCallError(504, TIMED_OUT, "durable_timeout")
    return DurableCallError(502, FAILED, "durable_error")
