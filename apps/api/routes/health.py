"""Liveness (`/health`, answered before routing, from cached flags) and readiness (`/ready`,
which asks each dependency)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from apps.api.deps import State
from apps.api.state import ApiState

router = APIRouter()


def _flags(state: ApiState) -> dict[str, str]:
    nats_ok = state.bus is not None and state.bus.nc.is_connected
    return {
        "nats": "ok" if nats_ok else "unreachable",
        # Which NATS server (host:port) carries this process's calls: a cluster test
        # degrades exactly that one.
        "natsServer": state.bus.nc.server if state.bus is not None else "",
        "restate": "ok" if state.restate_ok else "unreachable",
    }


class Liveness:
    """`GET /health` costs no routing, no dependency and no await: load balancers and
    crowds hit it hardest. NATS and Restate are reported from flags kept current in the
    background; `/ready` is where dependencies are really asked."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/health":
            await self.app(scope, receive, send)
            return
        body = json.dumps({"status": "ok", "service": "api", **_flags(self.state)}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@router.get("/health")
async def health(state: State) -> dict[str, Any]:
    """`status` is "ok" while the process serves; `nats` and `restate` say what it can
    reach (answered by `Liveness` before routing; this route documents it in OpenAPI)."""
    return {"status": "ok", "service": "api", **_flags(state)}


@router.get("/ready")
async def ready(state: State) -> JSONResponse:
    """200 when NATS and Restate both answer now, else 503 naming what is missing."""
    nats_ok = state.bus is not None and state.bus.nc.is_connected
    restate_ok = await state.ingress.healthy()
    body = {
        "ready": nats_ok and restate_ok,
        "nats": "ok" if nats_ok else "unreachable",
        "restate": "ok" if restate_ok else "unreachable",
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
