"""`/ready`: whether the services the site stands on answer now (for Fly checks and the
load balancer); `/health` stays a liveness check that asks nobody."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from apps.web.state import WebState

router = APIRouter()
TIMEOUT_S = 2.0


async def _answers(client: httpx.AsyncClient, url: str) -> str:
    try:
        response = await client.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError:
        return "unreachable"
    return "ok" if response.is_success else f"unhealthy ({response.status_code})"


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 when the API and the event service both answer their liveness check, else 503
    naming what is missing."""
    state: WebState = request.app.state.web
    up = state.upstreams
    api, sse = await asyncio.gather(
        _answers(up.reads, f"{up.api_url}/health"), _answers(up.reads, f"{up.sse_url}/health")
    )
    ok = api == "ok" and sse == "ok"
    body = {"ready": ok, "api": api, "sse": sse}
    return JSONResponse(body, status_code=200 if ok else 503)
