"""The web app's view of the services behind it: the API and the event streams."""

from __future__ import annotations

from dataclasses import dataclass
from http.cookiejar import CookieJar, CookiePolicy
from typing import Any

import httpx

from apps.web import retry
from drop import tracing
from drop.adapters import http_pool

# Page renders are short. A visitor's relayed API call may take as long as the API's own
# longest designed answer (a durable call's timeout, RESTATE_TIMEOUT_SECONDS = 30 s, and the
# stall lookup after it): waiting longer lets that answer, and its reason, reach the visitor.
# Event streams stay open as long as the browser keeps them, so they get no read timeout.
API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RELAY_TIMEOUT = httpx.Timeout(45.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=10.0, pool=5.0)


class _NoCookies(CookiePolicy):
    """Never store or send cookies: one upstream client serves every visitor, so a jar
    would hand one user's session to the next. Browsers' cookies travel as plain headers."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: object, request: object) -> bool:
        return False

    def return_ok(self, cookie: object, request: object) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: object) -> bool:
        return False

    def path_return_ok(self, path: str, request: object) -> bool:
        return False


def _no_cookies() -> CookieJar:
    # A jar, not httpx.Cookies: httpx copies a Cookies object into a default jar.
    return CookieJar(policy=_NoCookies())


class UpstreamError(Exception):
    """The API answered with an error, or could not be reached."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def page_status(self) -> int:
        """The status of a page that shows this error: the API's refusal (4xx) as it is;
        the API failing or out of reach is a moment to come back after (503)."""
        return self.status if 400 <= self.status < 500 else 503


@dataclass
class Upstreams:
    """Pooled HTTP clients for the API and the SSE service, created once per app.

    `reads` serves the site's own calls (first paints, admin actions) with a small pool:
    httpx spends far more CPU per request when dozens of connections are in flight than
    when a few are reused (measured in bench/web.py). `api` and `events` relay visitors'
    calls and streams, where a small pool would make one slow call hold up others.
    """

    api_url: str
    sse_url: str
    api_metrics_url: str
    reads: httpx.AsyncClient
    api: httpx.AsyncClient
    events: httpx.AsyncClient

    @classmethod
    def create(cls, api_url: str, sse_url: str, api_metrics_url: str = "") -> Upstreams:
        reads = http_pool.client(
            cookies=_no_cookies(),
            timeout=API_TIMEOUT,
            limits=httpx.Limits(
                max_connections=8,
                max_keepalive_connections=8,
                keepalive_expiry=retry.KEEPALIVE_EXPIRY,
            ),
        )
        api = http_pool.client(
            cookies=_no_cookies(),
            timeout=RELAY_TIMEOUT,
            limits=httpx.Limits(
                max_connections=512,
                max_keepalive_connections=64,
                keepalive_expiry=retry.KEEPALIVE_EXPIRY,
            ),
        )
        events = http_pool.client(
            cookies=_no_cookies(),
            timeout=STREAM_TIMEOUT,
            limits=httpx.Limits(
                max_connections=None,
                max_keepalive_connections=32,
                keepalive_expiry=retry.KEEPALIVE_EXPIRY,
            ),
        )
        api_url, sse_url = api_url.rstrip("/"), sse_url.rstrip("/")
        return cls(api_url, sse_url, api_metrics_url or api_url, reads, api, events)

    async def close(self) -> None:
        await http_pool.settle(timeout_s=5.0)
        await self.reads.aclose()
        await self.api.aclose()
        await self.events.aclose()

    async def get_json(self, path: str) -> Any:
        """GET an API path and decode it; UpstreamError on a non-2xx answer or no answer."""
        return await self._json("GET", path)

    async def admin_get(self, path: str, secret: str) -> Any:
        """GET an admin API route with the admin bearer."""
        return await self._json("GET", path, headers={"Authorization": f"Bearer {secret}"})

    async def admin_post(self, path: str, secret: str, body: Any = None) -> Any:
        """POST to an admin API route with the admin bearer."""
        return await self.admin_call("POST", path, secret, body=body)

    async def admin_call(
        self, method: str, path: str, bearer: str, *, client: str = "", body: Any = None
    ) -> Any:
        """Call an admin API route with `bearer`; `client` is the visitor's address, for the
        API's per-address limits (it trusts this app's X-Forwarded-For)."""
        headers = {"Authorization": f"Bearer {bearer}"}
        if client:
            headers["X-Forwarded-For"] = client
        return await self._json(method, path, json=body, headers=headers)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        trace_context = tracing.propagation_headers()
        if trace_context:
            kwargs["headers"] = {**kwargs.get("headers", {}), **trace_context}
        try:
            request = self.reads.build_request(method, f"{self.api_url}{path}", **kwargs)
            response = await retry.send(self.reads, request, stream=False)
        except httpx.TimeoutException as exc:
            raise UpstreamError(504, "the drop service took too long to answer") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(502, "the drop service is unreachable") from exc
        if response.is_success:
            return response.json()
        raise UpstreamError(
            response.status_code, _error_message(response), response.headers.get("retry-after")
        )


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
