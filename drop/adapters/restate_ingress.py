"""A small client for Restate's HTTP ingress (calls durable handlers) and admin API."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from drop import metrics, tracing

log = logging.getLogger("restate_ingress")

# What clients are told when the durable layer fails; the detail goes to the log only.
UNAVAILABLE = "the service is temporarily unavailable; try again"
TIMED_OUT = "the service took too long to answer; try again"
FAILED = "the service could not complete the request; try again"
REFUSED = "the request was refused"


class DurableCallError(Exception):
    """A durable handler answered with an error; `status` is kept for the HTTP answer."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class RestateIngress:
    """Calls `POST {ingress}/{service}/{key}/{handler}` and maps failures to status codes."""

    client: httpx.AsyncClient

    @classmethod
    def create(cls, base_url: str, timeout_s: float) -> RestateIngress:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        return cls(httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits))

    async def call(
        self,
        service: str,
        handler: str,
        payload: Any = None,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        path = f"/{service}/{key}/{handler}" if key is not None else f"/{service}/{handler}"
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            with tracing.client_span(f"{service}.{handler}", headers):
                response = await self.client.post(path, json=payload, headers=headers)
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
            return response.json() if response.content else None
        raise _error_from(response, f"{service}.{handler}")

    async def send(
        self, service: str, handler: str, payload: Any = None, *, key: str | None = None
    ) -> None:
        """Fire-and-forget invocation (Restate accepts it durably before answering)."""
        path = (
            f"/{service}/{key}/{handler}/send" if key is not None else f"/{service}/{handler}/send"
        )
        try:
            response = await self.client.post(path, json=payload)
        except httpx.TransportError as exc:
            log.warning("durable layer unreachable sending %s.%s: %r", service, handler, exc)
            raise DurableCallError(503, UNAVAILABLE, "durable_unavailable") from exc
        if not response.is_success:
            raise _error_from(response, f"{service}.{handler}")

    async def healthy(self) -> bool:
        try:
            response = await self.client.get("/restate/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.is_success

    async def close(self) -> None:
        await self.client.aclose()


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
