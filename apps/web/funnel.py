"""The operator console's live funnel: one snapshot a second over an event stream.

For each active drop: waiting → admitted (the waiting room's counters) → registered →
winners → purchased (the drop's state); and the API's request and 5xx totals from its
`/metrics` (on its private port, INTERNAL_API_METRICS_URL), from which the page draws
arrivals, registrations and the error rate per second. Only a signed-in operator may
open it; it costs a few reads a second per open console, which is why it is not offered
to shoppers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.parser import text_string_to_metric_families
from sse_starlette.sse import EventSourceResponse

from apps.web.admin import signed_in
from apps.web.state import web_state
from apps.web.upstream import UpstreamError, Upstreams

router = APIRouter(prefix="/admin", include_in_schema=False)

PERIOD_S = 1.0
# A drop that left the active list (sold out, ended) stays on the console this long.
ENDED_KEPT_S = 600
MAX_ENDED = 10
REGISTER_ROUTE = "/api/drop/{dropId}/register"


def api_totals(text: str) -> dict[str, float]:
    """Requests, 5xx answers and registration attempts the API has answered so far."""
    totals = {"requests": 0.0, "errors": 0.0, "registerRequests": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name != "http_requests":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            totals["requests"] += sample.value
            if sample.labels.get("status", "").startswith("5"):
                totals["errors"] += sample.value
            if sample.labels.get("route") == REGISTER_ROUTE:
                totals["registerRequests"] += sample.value
    return totals


async def _queue(up: Upstreams, drop_id: str) -> dict[str, Any]:
    try:
        stats: dict[str, Any] = await up.get_json(f"/api/queue/{drop_id}/stats")
    except UpstreamError:
        return {}
    return stats


def _stage(drop: dict[str, Any], queue: dict[str, Any]) -> dict[str, Any]:
    initial = int(drop.get("initialInventory", 0))
    return {
        "dropId": drop["dropId"],
        "productName": drop.get("productName", drop["dropId"]),
        "phase": drop.get("phase", ""),
        "registrationEnd": drop.get("registrationEnd"),
        "queueEnabled": bool(queue.get("queueEnabled", False)),
        "arrived": int(queue.get("totalIssued", 0)),
        "waiting": int(queue.get("waitingCount", 0)),
        "admitted": int(queue.get("totalAdmitted", 0)),
        "registered": int(drop.get("participantCount", 0)),
        "winners": int(drop.get("winnerCount", 0)),
        "purchased": initial - int(drop.get("inventory", initial)),
        "inventory": initial,
    }


async def _ended(up: Upstreams, drop_id: str) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = await up.get_json(f"/api/drop/{drop_id}/status")
    except UpstreamError:
        return None
    return state


async def snapshot(up: Upstreams, recent: dict[str, float]) -> dict[str, Any]:
    """One reading of every active drop's funnel (and of the drops that recently left the
    active list, from `recent`: id → when last seen active) and the API's totals."""
    active: dict[str, Any] = await up.get_json("/api/drops/active")
    drops = list(active.get("drops", []))
    now = time.monotonic()
    for d in drops:
        recent[d["dropId"]] = now
    live = {d["dropId"] for d in drops}
    for drop_id, seen in list(recent.items()):
        if now - seen > ENDED_KEPT_S:
            del recent[drop_id]
    ended = sorted((i for i in recent if i not in live), key=recent.__getitem__)[-MAX_ENDED:]
    drops += [d for d in await asyncio.gather(*(_ended(up, i) for i in ended)) if d is not None]
    queues = await asyncio.gather(*(_queue(up, d["dropId"]) for d in drops))
    try:
        scraped = await up.reads.get(f"{up.api_metrics_url}/metrics", timeout=2.0)
        totals = api_totals(scraped.text) if scraped.is_success else None
    except httpx.HTTPError:
        totals = None
    return {
        "type": "funnel",
        "at": int(time.time() * 1000),
        "drops": [_stage(d, q) for d, q in zip(drops, queues, strict=True)],
        "api": totals,
    }


@router.get("/funnel/events")
async def funnel_events(request: Request) -> Response:
    if not await signed_in(request):
        return JSONResponse({"error": "sign in to the console first"}, status_code=401)
    up = web_state(request).upstreams
    recent: dict[str, float] = {}

    async def readings() -> AsyncIterator[dict[str, str]]:
        while True:
            try:
                data = await snapshot(up, recent)
            except UpstreamError as exc:
                data = {"type": "funnel_unavailable", "message": exc.message}
            yield {"event": str(data["type"]), "data": json.dumps(data, separators=(",", ":"))}
            await asyncio.sleep(PERIOD_S)

    return EventSourceResponse(readings(), ping=15)
