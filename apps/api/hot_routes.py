"""The crowd's routes, answered before FastAPI's routing.

A person in a crowd costs the api four or five requests (join, a status poll or so, a
proof-of-work challenge, the registration), and py-spy put most of each one's CPU in
FastAPI's routing and dependency solving rather than in the route itself. `HotRoutes`, the
innermost middleware, calls those routes' own functions directly, with what FastAPI would
give them: the same path checks, the body validated by the route's own body field, the
answer serialised by the route's own response field, the same exception handlers. The
middlewares around it (client address, metrics, CORS, body limit, liveness) apply as to
any request, and the routes stay declared in FastAPI for OpenAPI.

Only what passes every check is answered here. A path id or body that does not validate,
a content type other than `application/json`, any other method or path: FastAPI gets the
request (with the body already read handed on), so bad input gets FastAPI's own 400 and
its reasons.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, serialize_response
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.api import errors
from apps.api.deps import get_bus
from apps.api.routes import drops, pow
from apps.api.routes import queue as queue_routes
from apps.api.state import ApiState
from drop.adapters.nats_bus import Bus
from drop.contracts import is_id


@dataclass(frozen=True)
class Call:
    """What FastAPI's dependencies would hand one hot request's route."""

    request: Request
    response: Response  # headers and cookies the route sets join the answer
    state: ApiState
    bus: Bus
    params: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Hot:
    """A route answered here: its declared FastAPI function, and how to call it."""

    method: str
    path: str
    endpoint: Callable[..., Any]
    call: Callable[[Call], Awaitable[Any]]


HOT = (
    Hot(
        "POST",
        "/api/queue/{dropId}/join",
        queue_routes.join,
        lambda c: queue_routes.join(c.params["dropId"], c.body, c.request, c.state, c.bus),
    ),
    Hot(
        "GET",
        "/api/queue/{dropId}/status/{token}",
        queue_routes.status,
        lambda c: queue_routes.status(c.params["dropId"], c.params["token"], c.state, c.bus),
    ),
    Hot(
        "GET",
        "/api/pow/challenge",
        pow.challenge,
        lambda c: pow.challenge(c.request, c.state, c.bus),
    ),
    Hot(
        "POST",
        "/api/drop/{dropId}/register",
        drops.register,
        lambda c: drops.register(c.params["dropId"], c.body, c.request, c.response, c.state, c.bus),
    ),
)


@dataclass(frozen=True)
class Bound:
    """A hot route joined to its FastAPI declaration (path, body and response fields)."""

    hot: Hot
    route: APIRoute
    segments: tuple[str | None, ...]  # literal path segments; None where a param goes
    names: tuple[str, ...]  # the params' names, in path order

    @classmethod
    def of(cls, hot: Hot, route: APIRoute) -> Bound:
        parts = route.path.split("/")
        segments = tuple(None if p.startswith("{") else p for p in parts)
        names = tuple(p.strip("{}") for p in parts if p.startswith("{"))
        return cls(hot, route, segments, names)

    def params(self, parts: list[str]) -> dict[str, str] | None:
        """The path's params when `parts` is this route's path with a valid id in each."""
        found: list[str] = []
        for literal, part in zip(self.segments, parts, strict=True):
            if literal is None:
                if not is_id(part):
                    return None
                found.append(part)
            elif literal != part:
                return None
        return dict(zip(self.names, found, strict=True))


def bind() -> dict[tuple[str, int], list[Bound]]:
    """Every hot route joined to its declaration, by method and number of path segments."""
    routers = (queue_routes.router, pow.router, drops.router)
    declared = {id(r.endpoint): r for x in routers for r in x.routes if isinstance(r, APIRoute)}
    table: dict[tuple[str, int], list[Bound]] = {}
    for hot in HOT:
        route = declared.get(id(hot.endpoint))
        if route is None or route.path != hot.path or hot.method not in (route.methods or ()):
            raise RuntimeError(f"hot route {hot.method} {hot.path} is not declared as such")
        if route.response_field is None or not isinstance(route.response_class, DefaultPlaceholder):
            raise RuntimeError(f"hot route {hot.path} must answer JSON by its response model")
        bound = Bound.of(hot, route)
        table.setdefault((hot.method, len(bound.segments)), []).append(bound)
    return table


class HotRoutes:
    """Innermost middleware: the crowd's routes without routing or dependency solving."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app, self.state = app, state
        self.table = bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        bound, params = found
        body: Any = None
        if bound.route.body_field is not None:
            raw = await _read_body(receive)
            if raw is None:
                # The client left, or sent a body the server could not read (granian says
                # the same of broken chunked framing): FastAPI answers that as for any route.
                await self.app(scope, _disconnected, send)
                return
            body = _parse(bound.route, raw, scope)
            if body is None:
                await self.app(scope, _replay(raw, receive), send)
                return
        scope["route"], scope["endpoint"], scope["path_params"] = (
            bound.route,
            bound.hot.endpoint,
            params,
        )
        request = Request(scope, receive, send)
        response = await self._answer(bound, request, params, body)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[Bound, dict[str, str]] | None:
        path: str = scope["path"]
        if not path.startswith("/api/"):
            return None
        parts = path.split("/")
        for bound in self.table.get((scope["method"], len(parts)), ()):
            params = bound.params(parts)
            if params is not None:
                return bound, params
        return None

    async def _answer(
        self, bound: Bound, request: Request, params: dict[str, str], body: Any
    ) -> Response:
        # As FastAPI's dependency solving makes it: no status, no content-length.
        sub = Response()
        del sub.headers["content-length"]
        sub.status_code = None  # type: ignore[assignment]
        try:
            bus = await get_bus(self.state)
            raw = await bound.hot.call(Call(request, sub, self.state, bus, params, body))
        except errors.HANDLED as exc:
            return await errors.answer(request, exc)
        if isinstance(raw, Response):
            return raw
        return await _render(bound.route, raw, sub)


async def _render(route: APIRoute, raw: Any, sub: Response) -> Response:
    """`raw` as FastAPI answers a route's plain return value: validated and dumped to JSON
    by the route's response field, with the headers and status the route set on `sub`."""
    content = await serialize_response(
        field=route.response_field,
        response_content=raw,
        include=route.response_model_include,
        exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none,
        dump_json=True,
    )
    status = sub.status_code or route.status_code or 200
    response = Response(content, status_code=status, media_type="application/json")
    response.headers.raw.extend(sub.headers.raw)
    return response


def _parse(route: APIRoute, raw: bytes, scope: Scope) -> Any:
    """The body as the route's body field validates it; None when FastAPI should answer
    (not JSON, not valid: its 400 names the reasons)."""
    field = route.body_field
    if field is None or not raw or not _is_json(scope):
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # nested too deep for the parser: not our JSON
        return None
    value, problems = field.validate(document, {}, loc=("body",))
    return None if problems else value


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


def _replay(raw: bytes, receive: Receive) -> Receive:
    """`receive` for the app behind, which still expects the body this read."""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
