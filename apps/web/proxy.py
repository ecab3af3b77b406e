"""Same-origin proxy: `/api/*` to the API, `/events/*` to the event streams.

Both directions stream: response bytes are passed on as they arrive (no buffering, no
re-encoding), so an event reaches the browser the moment the SSE service writes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from apps.web import retry
from apps.web.proxy_path import BadPath, upstream_path
from apps.web.state import web_state
from drop import tracing
from drop.client_address import forwarded_hops, peer_host

router = APIRouter(include_in_schema=False)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
# This app's own answer when the service behind it failed to answer at all.
RETRY_LATER = {"Retry-After": "5"}

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED_UP = HOP_BY_HOP | {"host", "content-length", "x-forwarded-for"}
_NOT_FORWARDED_UP_RAW = frozenset(h.encode() for h in NOT_FORWARDED_UP)
_STREAM_SKIP_RAW = frozenset({b"accept-encoding"})


def _forward_headers(request: Request, *, stream: bool) -> list[tuple[bytes, bytes]]:
    # The client's header bytes go on as they came: one that is not ASCII (obs-text, which
    # HTTP allows) is the API's to judge, not a failure of this app to encode it.
    skip = _NOT_FORWARDED_UP_RAW | (_STREAM_SKIP_RAW if stream else frozenset())
    headers = [(k, v) for k, v in request.headers.raw if k not in skip]
    if stream:
        # Compression would make the SSE service (or a middlebox) hold bytes back.
        headers.append((b"accept-encoding", b"identity"))
    forwarded_for = _forwarded_for(request)
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for.encode("latin-1")))
    headers.append((b"x-forwarded-proto", request.url.scheme.encode("latin-1")))
    host = request.headers.get("host")
    if host is not None:
        headers.append((b"x-forwarded-host", host.encode("latin-1")))
    # Tracing on: the upstream's span is a child of this request's span (which already
    # continues any traceparent the caller sent), so ours replaces the caller's.
    trace_context = tracing.propagation_headers()
    if trace_context:
        replaced = {k.encode("latin-1") for k in trace_context}
        headers = [(k, v) for k, v in headers if k not in replaced]
        headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in trace_context.items())
    return headers


def _forwarded_for(request: Request) -> str:
    """The incoming chain plus, always, the address of the peer this web saw: the api
    walks the chain from the right and stops at the first hop it does not trust, so an
    entry a client wrote can never stand in for the client (drop.client_address)."""
    hops = forwarded_hops(request.headers.getlist("x-forwarded-for"))
    peer = peer_host(request.scope)
    if peer:
        hops.append(peer)
    return ", ".join(hops)


def _backward_headers(upstream: httpx.Response, *, stream: bool) -> list[tuple[bytes, bytes]]:
    skip = HOP_BY_HOP | ({"content-length"} if stream else set())
    raw = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in upstream.headers.multi_items()
        if k.lower() not in skip
    ]
    if stream:
        if "x-accel-buffering" not in upstream.headers:
            raw.append((b"x-accel-buffering", b"no"))
        if "cache-control" not in upstream.headers:
            raw.append((b"cache-control", b"no-cache"))
    return raw


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError:
        # The upstream went away mid-stream: end the response; EventSource reconnects.
        return
    finally:
        await upstream.aclose()


async def _proxy(
    request: Request, base: str, prefix: str, client: httpx.AsyncClient, stream: bool
) -> Response:
    try:
        path = upstream_path(request.scope, prefix)
    except BadPath as exc:
        return JSONResponse({"error": f"invalid path: {exc}", "code": "bad_path"}, 400)
    body = await request.body()  # capped by the app's BodyLimit
    outgoing = client.build_request(
        request.method,
        httpx.URL(f"{base}{path}", query=request.url.query.encode("latin-1")),
        headers=_forward_headers(request, stream=stream),
        content=body or None,
    )
    try:
        upstream = await retry.send(client, outgoing, stream=True)
    except httpx.TimeoutException:
        timed_out = {"error": "upstream timed out", "code": "upstream_timeout"}
        return JSONResponse(timed_out, status_code=504, headers=RETRY_LATER)
    except httpx.HTTPError:
        unreachable = {"error": "upstream unavailable", "code": "upstream_unavailable"}
        return JSONResponse(unreachable, status_code=502, headers=RETRY_LATER)
    response = StreamingResponse(_relay(upstream), status_code=upstream.status_code)
    response.raw_headers = _backward_headers(upstream, stream=stream)
    return response


@router.api_route("/api/{path:path}", methods=METHODS)
async def api(request: Request) -> Response:
    state = web_state(request)
    return await _proxy(request, state.upstreams.api_url, "api", state.upstreams.api, stream=False)


@router.api_route("/events/{path:path}", methods=["GET", "HEAD"])
async def events(request: Request) -> Response:
    state = web_state(request)
    upstreams = state.upstreams
    return await _proxy(request, upstreams.sse_url, "events", upstreams.events, stream=True)
