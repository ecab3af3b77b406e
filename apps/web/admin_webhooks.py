"""The console's webhooks: add an endpoint (its secret shown once, on the page that
answers the form), remove one, read its deliveries and retry one. Plain form posts the
server turns into admin API calls, like the rest of the console."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from apps.web.admin import _back, _dashboard, _guard, signed_in
from apps.web.pages import render
from apps.web.state import web_state
from apps.web.upstream import UpstreamError

router = APIRouter(prefix="/admin/webhooks", include_in_schema=False)


def _path(endpoint_id: str) -> str:
    return f"/api/webhooks/{quote(endpoint_id, safe='')}"


@router.post("")
async def add(request: Request) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    pairs = parse_qsl((await request.body()).decode("utf-8", errors="replace"))
    url = dict(pairs).get("url", "").strip()
    kinds = [value for name, value in pairs if name == "event"]
    state = web_state(request)
    try:
        added = await state.upstreams.admin_post(
            "/api/webhooks", state.admin_secret, {"url": url, "events": kinds}
        )
    except UpstreamError as exc:
        error = f"Webhook not added: {exc.message}"
        return await _dashboard(request, error=error, status=exc.page_status)
    notice = "Webhook added. Copy its signing secret now: it is not shown again."
    return await _dashboard(request, extra={"new_webhook": added, "notice": notice})


@router.post("/{endpoint_id}/delete")
async def remove(request: Request, endpoint_id: str) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    state = web_state(request)
    try:
        await state.upstreams.admin_call("DELETE", _path(endpoint_id), state.admin_secret)
    except UpstreamError as exc:
        return _back(error=f"Webhook not removed: {exc.message}")
    return _back(notice="Webhook removed")


@router.get("/{endpoint_id}", response_class=HTMLResponse)
async def deliveries(request: Request, endpoint_id: str) -> Response:
    if not await signed_in(request):
        return RedirectResponse("/admin", status_code=303)
    state = web_state(request)
    context: dict[str, Any] = {
        "endpoint_id": endpoint_id,
        "deliveries": [],
        "notice": request.query_params.get("notice", ""),
        "error": request.query_params.get("error", ""),
    }
    try:
        found = await state.upstreams.admin_get(
            f"{_path(endpoint_id)}/deliveries", state.admin_secret
        )
        context["deliveries"] = found.get("deliveries", [])
    except UpstreamError as exc:
        context["error"] = f"Deliveries unreadable: {exc.message}"
        return render(request, "admin_webhook.html", context, exc.page_status)
    return render(request, "admin_webhook.html", context)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry(request: Request, endpoint_id: str, delivery_id: str) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    state = web_state(request)
    page = f"/admin/webhooks/{quote(endpoint_id, safe='')}"
    try:
        await state.upstreams.admin_post(
            f"{_path(endpoint_id)}/deliveries/{quote(delivery_id, safe='')}/retry",
            state.admin_secret,
        )
    except UpstreamError as exc:
        return RedirectResponse(f"{page}?error={quote(exc.message)}", status_code=303)
    return RedirectResponse(f"{page}?notice={quote('Retry sent')}", status_code=303)
