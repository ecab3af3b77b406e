"""The sse routes: /health, /ready and the three event streams."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from apps.sse import snapshots, streams
from apps.sse.fanout import Item, Listener
from apps.sse.state import open_stream, sse_state
from apps.sse.tail import StreamTail
from drop import events
from drop.contracts import is_id

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")

router = APIRouter()


def _invalid(path: str) -> JSONResponse:
    detail = {"path": path, "message": "invalid identifier"}
    return JSONResponse({"error": "Validation failed", "details": [detail]}, status_code=400)


# A client resuming from a replica whose tail was further along waits at most this long
# for this one's to reach its Last-Event-ID; then it is answered exactly from there (else
# with a fresh snapshot, as a gap too long to replay is).
CATCH_UP_S = 5.0


async def _resumed_from(request: Request, tail: StreamTail) -> streams.Resumed:
    """The client's Last-Event-ID, once `tail` has reached it (or given up waiting)."""
    last = _last_event_id(request)
    if last is None:
        return streams.Resumed(None)
    return streams.Resumed(last, await tail.caught_up(last, CATCH_UP_S) == "behind")


def _last_event_id(request: Request) -> int | None:
    header = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    return snapshots.parse_last_event_id(header)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    rt = sse_state(request).rt
    return {
        "status": "ok",
        "service": "sse",
        "connections": rt.gate.open if rt else 0,
        "nats": bool(rt and rt.bus.nc.is_connected),
    }


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 when NATS answers a round trip now and the event feeds are running, else 503
    naming what is missing."""
    rt = sse_state(request).rt
    nats = "unreachable"
    if rt is not None and rt.bus.nc.is_connected:
        try:
            await rt.bus.nc.flush(timeout=2)
            nats = "ok"
        except Exception:
            nats = "unreachable"
    feeds = "ok" if rt is not None and not rt.draining else "starting" if rt is None else "draining"
    body = {"ready": nats == "ok" and feeds == "ok", "nats": nats, "feeds": feeds}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


# The streams are plain Starlette routes: FastAPI's per-request machinery (exit stacks,
# dependency state) would stay alive for the whole life of every stream.
async def drops(request: Request) -> Response:
    """The active drops, on connect and after each change (at most every 200 ms)."""
    state = sse_state(request)
    rt = state.rt
    if rt is None:
        return state.busy()
    client = state.admit(rt, request)
    if isinstance(client, JSONResponse):
        return client
    listener: Listener[bytes] = Listener(state.settings.sse_client_buffer)
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
    state = sse_state(request)
    rt = state.rt
    if rt is None:
        return state.busy()
    # Before taking a slot: a request cancelled while it waits holds none.
    resumed_from = await _resumed_from(request, rt.queue)
    client = state.admit(rt, request)
    if isinstance(client, JSONResponse):
        return client
    subjects = [events.queue_subject(drop_id, token)]
    listener: Listener[Item] = Listener(state.settings.sse_client_buffer)
    rt.hub.add(subjects, listener)
    at = rt.queue.last_seq
    view = streams.QueueView(at)
    opening = streams.queue_opening(rt, view, drop_id, token, at, resumed_from)
    return open_stream(
        rt, client, listener, opening, view.batch, lambda: rt.hub.remove(subjects, listener)
    )


async def drop_user(request: Request) -> Response:
    """The drop and one user's status; the purchase token only with that user's session."""
    drop_id, user_id = request.path_params["drop_id"], request.path_params["user_id"]
    if not is_id(drop_id) or not is_id(user_id):
        return _invalid("dropId" if not is_id(drop_id) else "userId")
    state = sse_state(request)
    rt = state.rt
    if rt is None:
        return state.busy()
    known = rt.board.state(drop_id) or await snapshots.indexed_drop(rt.index, drop_id)
    if known is None:
        return JSONResponse({"error": "Drop not found"}, status_code=404)
    holds_session = await rt.sessions.caller(request, rt.user_sessions) == user_id
    resumed_from = await _resumed_from(request, rt.drops)  # before taking a slot, as above
    client = state.admit(rt, request)
    if isinstance(client, JSONResponse):
        return client
    subjects = [events.drop_state_subject(drop_id), events.drop_user_subject(drop_id, user_id)]
    listener: Listener[Item] = Listener(state.settings.sse_client_buffer)
    # Subscribe, then read the live point and the state it matches, with no await between.
    rt.hub.add(subjects, listener)
    at = rt.drops.last_seq
    drop_state = rt.board.state(drop_id) or known

    view = streams.UserView(holds_session, at)
    opening = streams.user_opening(rt, view, drop_id, user_id, drop_state, at, resumed_from)
    return open_stream(
        rt, client, listener, opening, view.batch, lambda: rt.hub.remove(subjects, listener)
    )


STREAMS = (
    ("/events/drops", drops),
    ("/events/queue/{drop_id}/{token}", queue),
    ("/events/{drop_id}/{user_id}", drop_user),
)
