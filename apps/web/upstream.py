"""The web app's view of the services behind it: the API and the event streams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

# Page renders and proxied API calls are short; event streams stay open as long as the
# browser keeps them, so they get no read timeout at all.
API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=10.0, pool=5.0)


class UpstreamError(Exception):
    """The API answered with an error, or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upstreams:
    """Pooled HTTP clients for the API and the SSE service, created once per app."""

    api_url: str
    sse_url: str
    api: httpx.AsyncClient
    events: httpx.AsyncClient

    @classmethod
    def create(cls, api_url: str, sse_url: str) -> Upstreams:
        api = httpx.AsyncClient(
            timeout=API_TIMEOUT,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=128),
        )
        events = httpx.AsyncClient(
            timeout=STREAM_TIMEOUT,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )
        return cls(api_url.rstrip("/"), sse_url.rstrip("/"), api, events)

    async def close(self) -> None:
        await self.api.aclose()
        await self.events.aclose()

    async def get_json(self, path: str) -> Any:
        """GET an API path and decode it; UpstreamError on a non-2xx answer or no answer."""
        try:
            response = await self.api.get(f"{self.api_url}{path}")
        except httpx.TimeoutException as exc:
            raise UpstreamError(504, "the drop service took too long to answer") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(502, "the drop service is unreachable") from exc
        if response.is_success:
            return response.json()
        raise UpstreamError(response.status_code, _error_message(response))

    async def admin_post(self, path: str, secret: str, body: Any = None) -> Any:
        """POST to an admin API route with the admin bearer."""
        try:
            response = await self.api.post(
                f"{self.api_url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
            )
        except httpx.TimeoutException as exc:
            raise UpstreamError(504, "the drop service took too long to answer") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(502, "the drop service is unreachable") from exc
        if response.is_success:
            return response.json()
        raise UpstreamError(response.status_code, _error_message(response))


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(data, dict):
        return f"HTTP {response.status_code}"
    message = str(data.get("message") or data.get("error") or f"HTTP {response.status_code}")
    details = data.get("details")
    if isinstance(details, list) and details:
        parts = [f"{d.get('path', '')}: {d.get('message', '')}" for d in details if d]
        message = f"{message} — {'; '.join(parts)}"
    return message
