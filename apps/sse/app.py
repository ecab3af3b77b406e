"""The sse app factory: routes of docs/contract.md, Streams, over the shared runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from apps.sse import snapshots, streams
from apps.sse.fanout import Item, Listener
from apps.sse.gate import Admission
from apps.sse.metrics import OPEN_STREAMS
from apps.sse.response import RAW_SEND, TRANSPORT, EventStream
from apps.sse.runtime import Runtime
from apps.sse.sessions import SessionCheck
from drop import events, metrics
from drop.contracts import is_id
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    SecretSettings,
    SseSettings,
)

log = logging.getLogger("sse")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")


class SseApp(FastAPI):
    """Remembers each connection's transport: streams write to it directly, and a stuck
    client can be cut off for real."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # uvicorn passes its protocol's bound `send`; other servers get the plain path.
            scope[TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
            scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


def _invalid(path: str) -> JSONResponse:
    detail = {"path": path, "message": "invalid identifier"}
    return JSONResponse({"error": "Validation failed", "details": [detail]}, status_code=400)


def _client(request: Request) -> str:
    # drop.client_address (applied by drop.serve) has put the decided client address here.
    return request.client.host if request.client else "unknown"


def _last_event_id(request: Request) -> int | None:
    header = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    return snapshots.parse_last_event_id(header)


def create_app(
    settings: SseSettings | None = None,
    connection: ConnectionSettings | None = None,
    secrets: SecretSettings | None = None,
    api: ApiSettings | None = None,
    nats_auth: NatsAuthSettings | None = None,
) -> FastAPI:
    sse = settings or SseSettings()
    connections = connection or ConnectionSettings()
    auth = nats_auth or NatsAuthSettings()
    api_settings = api or ApiSettings()
    sessions = SessionCheck(
        secret=(secrets or SecretSettings()).session_secret,
        ttl_ms=api_settings.session_ttl_seconds * 1000,
        cookie_name=api_settings.session_cookie_name,
    )
    holder: dict[str, Runtime] = {}

    async def connect() -> None:
        """Start the NATS feeds, retrying: the service answers /health (and 503 on streams)
        while NATS is not reachable yet."""
        while True:
            try:
                holder["rt"] = await Runtime.start(sse, sessions, connections, auth)
                return
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(1.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starting = asyncio.create_task(connect())
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            if "rt" in holder:
                await holder.pop("rt").stop()

    app = SseApp(title="Product Drop sse", lifespan=lifespan)
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

    def open_stream(
        rt: Runtime,
        client: str,
        listener: Listener[Any],
        opening: Coroutine[Any, Any, bytes],
        render: Callable[[list[Any]], bytes],
        release: Callable[[], None],
    ) -> EventStream:
        rt.listeners.add(listener)

        def release_all() -> None:
            rt.listeners.discard(listener)
            release()
            rt.gate.leave(client)

        return EventStream(opening, listener, render, release_all)

    def busy() -> JSONResponse:
        headers = {"Retry-After": str(sse.sse_retry_after_seconds)}
        return JSONResponse({"error": "Too many connections"}, status_code=503, headers=headers)

    def refused(admission: Admission) -> JSONResponse:
        if admission == "client_full":
            headers = {"Retry-After": str(sse.sse_retry_after_seconds)}
            body = {
                "error": f"Too many open streams from your address (at most "
                f"{sse.sse_max_streams_per_ip})",
                "code": "too_many_streams",
            }
            return JSONResponse(body, status_code=429, headers=headers)
        return busy()

    def admit(rt: Runtime, request: Request) -> str | JSONResponse:
        """The client's address once it holds a slot (given back when its stream ends), or
        the refusal to send."""
        if rt.draining:
            return busy()
        client = _client(request)
        admission = rt.gate.enter(client)
        return client if admission == "ok" else refused(admission)

    OPEN_STREAMS.set_function(lambda: holder["rt"].gate.open if "rt" in holder else 0)
    metrics.instrument_http(app, "sse")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        rt = holder.get("rt")
        return {
            "status": "ok",
            "service": "sse",
            "connections": rt.gate.open if rt else 0,
            "nats": bool(rt and rt.bus.nc.is_connected),
        }

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """200 when NATS answers a round trip now and the event feeds are running, else 503
        naming what is missing."""
        rt = holder.get("rt")
        nats = "unreachable"
        if rt is not None and rt.bus.nc.is_connected:
            try:
                await rt.bus.nc.flush(timeout=2)
                nats = "ok"
            except Exception:
                nats = "unreachable"
        feeds = (
            "ok" if rt is not None and not rt.draining else "starting" if rt is None else "draining"
        )
        body = {"ready": nats == "ok" and feeds == "ok", "nats": nats, "feeds": feeds}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    # The streams are plain Starlette routes: FastAPI's per-request machinery (exit stacks,
    # dependency state) would stay alive for the whole life of every stream.
    async def drops(request: Request) -> Response:
        """The active drops, on connect and after each change (at most every 200 ms)."""
        rt = holder.get("rt")
        if rt is None:
            return busy()
        client = admit(rt, request)
        if isinstance(client, JSONResponse):
            return client
        listener: Listener[bytes] = Listener(sse.sse_client_buffer)
        rt.board.listeners.add(listener)
        opening = streams.drops_opening(rt)
        return open_stream(
            rt,
            client,
            listener,
            opening,
            streams.newest,
            lambda: rt.board.listeners.discard(listener),
        )

    async def queue(request: Request) -> Response:
        """A waiting-room token's position, readiness and expiry."""
        drop_id, token = request.path_params["drop_id"], request.path_params["token"]
        if not is_id(drop_id) or not _TOKEN.fullmatch(token):
            return _invalid("dropId" if not is_id(drop_id) else "token")
        rt = holder.get("rt")
        if rt is None:
            return busy()
        client = admit(rt, request)
        if isinstance(client, JSONResponse):
            return client
        subjects = [events.queue_subject(drop_id, token)]
        listener: Listener[Item] = Listener(sse.sse_client_buffer)
        rt.hub.add(subjects, listener)
        at = rt.queue.last_seq
        view = streams.QueueView(at)
        opening = streams.queue_opening(rt, view, drop_id, token, at, _last_event_id(request))
        return open_stream(
            rt, client, listener, opening, view.batch, lambda: rt.hub.remove(subjects, listener)
        )

    async def drop_user(request: Request) -> Response:
        """The drop and one user's status; the purchase token only with that user's session."""
        drop_id, user_id = request.path_params["drop_id"], request.path_params["user_id"]
        if not is_id(drop_id) or not is_id(user_id):
            return _invalid("dropId" if not is_id(drop_id) else "userId")
        rt = holder.get("rt")
        if rt is None:
            return busy()
        known = rt.board.state(drop_id) or await snapshots.indexed_drop(rt.index, drop_id)
        if known is None:
            return JSONResponse({"error": "Drop not found"}, status_code=404)
        holds_session = await rt.sessions.caller(request, rt.user_sessions) == user_id
        client = admit(rt, request)
        if isinstance(client, JSONResponse):
            return client
        subjects = [events.drop_state_subject(drop_id), events.drop_user_subject(drop_id, user_id)]
        listener: Listener[Item] = Listener(sse.sse_client_buffer)
        # Subscribe, then read the live point and the state it matches, with no await between.
        rt.hub.add(subjects, listener)
        at = rt.drops.last_seq
        state = rt.board.state(drop_id) or known

        view = streams.UserView(holds_session, at)
        opening = streams.user_opening(
            rt, view, drop_id, user_id, state, at, _last_event_id(request)
        )
        return open_stream(
            rt, client, listener, opening, view.batch, lambda: rt.hub.remove(subjects, listener)
        )

    app.add_route("/events/drops", drops, methods=["GET"])
    app.add_route("/events/queue/{drop_id}/{token}", queue, methods=["GET"])
    app.add_route("/events/{drop_id}/{user_id}", drop_user, methods=["GET"])
    return app
