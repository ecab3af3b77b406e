"""The sse app factory: routes of SPEC §5 over the shared runtime."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from apps.sse import snapshots, streams
from apps.sse.fanout import Item, Listener
from apps.sse.runtime import Runtime
from apps.sse.sessions import SessionCheck
from drop import events
from drop.contracts import ID_PATTERN
from drop.settings import ApiSettings, ConnectionSettings, SecretSettings, SseSettings

_ID = re.compile(ID_PATTERN)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_TRANSPORT = "sse.transport"


class SseApp(FastAPI):
    """Remembers each connection's transport, so a stuck client can be cut off for real."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # uvicorn passes its protocol's bound `send`; other servers simply get no abort.
            scope[_TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
        await super().__call__(scope, receive, send)


class SseStream(EventSourceResponse):
    """An event stream holding one gate slot and one listener until it ends, however it ends."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        settings: SseSettings,
        listener: Listener[Any],
        release: Callable[[], None],
    ) -> None:
        super().__init__(
            body,
            ping=settings.sse_heartbeat_seconds,
            sep="\n",
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
            # The listener doubles as the shutdown event: set() ends the stream cleanly.
            shutdown_event=cast(anyio.Event, listener),
            shutdown_grace_period=settings.sse_shutdown_grace_seconds,
        )
        self._listener = listener
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with anyio.CancelScope() as cancel:
                self._listener.on_overflow = lambda: _cut_off(scope, cancel)
                await super().__call__(scope, receive, send)
        finally:
            self._listener.close("ended")
            self._release()


def _cut_off(scope: Scope, cancel: anyio.CancelScope) -> None:
    transport = scope.get(_TRANSPORT)
    if transport is not None:
        transport.abort()  # as if the client hung up: the stream ends through its usual path
    else:
        cancel.cancel()


def _invalid(path: str) -> JSONResponse:
    detail = {"path": path, "message": "invalid identifier"}
    return JSONResponse({"error": "Validation failed", "details": [detail]}, status_code=400)


def _last_event_id(request: Request) -> int | None:
    header = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    return snapshots.parse_last_event_id(header)


def create_app(
    settings: SseSettings | None = None,
    connection: ConnectionSettings | None = None,
    secrets: SecretSettings | None = None,
    api: ApiSettings | None = None,
) -> FastAPI:
    sse = settings or SseSettings()
    nats_url = (connection or ConnectionSettings()).nats_url
    api_settings = api or ApiSettings()
    sessions = SessionCheck(
        secret=(secrets or SecretSettings()).session_secret,
        ttl_ms=api_settings.session_ttl_seconds * 1000,
        cookie_name=api_settings.session_cookie_name,
    )
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder["rt"] = await Runtime.start(sse, sessions, nats_url)
        try:
            yield
        finally:
            await holder.pop("rt").stop()

    app = SseApp(title="Product Drop sse", lifespan=lifespan)

    def busy() -> JSONResponse:
        headers = {"Retry-After": str(sse.sse_retry_after_seconds)}
        return JSONResponse({"error": "Too many connections"}, status_code=503, headers=headers)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        rt = holder.get("rt")
        return {
            "status": "ok",
            "service": "sse",
            "connections": rt.gate.open if rt else 0,
            "nats": bool(rt and rt.bus.nc.is_connected),
        }

    @app.get("/events/drops", response_model=None)
    async def drops(request: Request) -> Response:
        """The active drops, on connect and after each change (at most every 200 ms)."""
        rt = holder["rt"]
        if not rt.gate.enter():
            return busy()
        listener: Listener[bytes] = Listener(sse.sse_client_buffer)
        rt.board.listeners.add(listener)

        def release() -> None:
            rt.board.listeners.discard(listener)
            rt.gate.leave()

        return SseStream(streams.drops_events(rt, listener), sse, listener, release)

    @app.get("/events/queue/{drop_id}/{token}", response_model=None)
    async def queue(request: Request, drop_id: str, token: str) -> Response:
        """A waiting-room token's position, readiness and expiry."""
        if not _ID.match(drop_id) or not _TOKEN.match(token):
            return _invalid("dropId" if not _ID.match(drop_id) else "token")
        rt = holder["rt"]
        if not rt.gate.enter():
            return busy()
        subjects = [events.queue_subject(drop_id, token)]
        listener: Listener[Item] = Listener(sse.sse_client_buffer)
        rt.hub.add(subjects, listener)
        at = rt.queue.last_seq

        def release() -> None:
            rt.hub.remove(subjects, listener)
            rt.gate.leave()

        body = streams.queue_events(rt, listener, drop_id, token, at, _last_event_id(request))
        return SseStream(body, sse, listener, release)

    @app.get("/events/{drop_id}/{user_id}", response_model=None)
    async def drop_user(request: Request, drop_id: str, user_id: str) -> Response:
        """The drop and one user's status; the purchase token only with that user's session."""
        if not _ID.match(drop_id) or not _ID.match(user_id):
            return _invalid("dropId" if not _ID.match(drop_id) else "userId")
        rt = holder["rt"]
        known = rt.board.state(drop_id) or await snapshots.indexed_drop(rt.index, drop_id)
        if known is None:
            return JSONResponse({"error": "Drop not found"}, status_code=404)
        if not rt.gate.enter():
            return busy()
        subjects = [events.drop_state_subject(drop_id), events.drop_user_subject(drop_id, user_id)]
        listener: Listener[Item] = Listener(sse.sse_client_buffer)
        # Subscribe, then read the live point and the state it matches, with no await between.
        rt.hub.add(subjects, listener)
        at = rt.drops.last_seq
        state = rt.board.state(drop_id) or known

        def release() -> None:
            rt.hub.remove(subjects, listener)
            rt.gate.leave()

        with_token = rt.sessions.caller(request) == user_id
        body = streams.user_events(
            rt, listener, drop_id, user_id, with_token, state, at, _last_event_id(request)
        )
        return SseStream(body, sse, listener, release)

    return app
