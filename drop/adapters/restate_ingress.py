"""A small client for Restate's HTTP ingress (calls durable handlers) and admin API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


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
        try:
            response = await self.client.post(path, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise DurableCallError(
                504, f"durable layer timed out calling {service}.{handler}"
            ) from exc
        except httpx.TransportError as exc:
            raise DurableCallError(503, f"durable layer unreachable: {exc}") from exc
        if response.is_success:
            return response.json() if response.content else None
        raise _error_from(response)

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
            raise DurableCallError(503, f"durable layer unreachable: {exc}") from exc
        if not response.is_success:
            raise _error_from(response)

    async def healthy(self) -> bool:
        try:
            response = await self.client.get("/restate/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.is_success

    async def close(self) -> None:
        await self.client.aclose()


def _error_from(response: httpx.Response) -> DurableCallError:
    message = response.text
    code: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    # Handlers encode "code: message" so the API can keep a machine-readable reason.
    if ": " in message:
        head, _, rest = message.partition(": ")
        if head.isidentifier():
            code, message = head, rest
    status = response.status_code if 400 <= response.status_code < 600 else 502
    if status == 500:
        status = 502
    return DurableCallError(status, message, code)
