"""The sse app factory: routes of docs/contract.md, Streams, over the shared runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from apps.sse import routes
from apps.sse.metrics import OPEN_STREAMS
from apps.sse.response import RAW_SEND, TRANSPORT, UNREADABLE, unavailable
from apps.sse.sessions import SessionCheck
from apps.sse.state import SseState
from drop import metrics
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    SecretSettings,
    SseSettings,
)

log = logging.getLogger("sse")


class SseApp(FastAPI):
    """Remembers each connection's transport: streams write to it directly, and a stuck
    client can be cut off for real."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # uvicorn passes its protocol's bound `send`; other servers get the plain path.
            scope[TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
            scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(
    settings: SseSettings | None = None,
    connection: ConnectionSettings | None = None,
    secrets: SecretSettings | None = None,
    api: ApiSettings | None = None,
    nats_auth: NatsAuthSettings | None = None,
) -> FastAPI:
    api_settings = api or ApiSettings()
    state = SseState(
        settings=settings or SseSettings(),
        sessions=SessionCheck(
            secret=(secrets or SecretSettings()).session_secret,
            ttl_ms=api_settings.session_ttl_seconds * 1000,
            cookie_name=api_settings.session_cookie_name,
        ),
        connections=connection or ConnectionSettings(),
        nats_auth=nats_auth or NatsAuthSettings(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await state.stop()

    app = SseApp(title="Product Drop sse", lifespan=lifespan)
    app.state.sse = state
    # Pages on another allowed origin open the streams directly (docs/contract.md, Streams).
    # The middleware only adds headers to the response start; stream bodies bypass it (see
    # RAW_SEND).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=api_settings.cors_origin_list,
        allow_credentials=True,
        allow_methods=["GET", "OPTIONS"],
        allow_headers=["Last-Event-ID", "Cache-Control", "Content-Type"],
    )

    async def nats_unreadable(request: Request, exc: Exception) -> Response:
        # A stream route's own reads (the drop's index entry, the session, the tail's
        # catch-up) failed on a slow or moving NATS: come back, as for a full server.
        log.warning("a stream route could not read from NATS: %r", exc)
        return unavailable(state.settings.sse_retry_after_seconds)

    for kind in UNREADABLE:
        app.add_exception_handler(kind, nats_unreadable)
    OPEN_STREAMS.set_function(state.open_connections)
    metrics.instrument_http(app, "sse")
    app.include_router(routes.router)
    for path, endpoint in routes.STREAMS:
        app.add_route(path, endpoint, methods=["GET"])
    return app
