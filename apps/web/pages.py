"""The public pages: the list of live drops and one drop's page, rendered on the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from apps.web.state import web_state
from apps.web.upstream import UpstreamError
from drop.contracts import is_id

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def server_time(data: dict[str, Any], age: float) -> int:
    """The API's clock now: its stamp on a shared answer plus how long ago that was."""
    return int(data["serverTime"]) + int(age * 1000)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status)


def come_back_later(page: Response, retry_after: str | None = None) -> Response:
    """A page of a failure the visitor should retry (5xx) says when: `Retry-After`, the
    API's own hint where it gave one."""
    if page.status_code >= 500:
        page.headers["Retry-After"] = retry_after or "5"
    return page


async def unavailable(request: Request, exc: Exception) -> Response:
    """A page whose call to the API failed where nothing more specific was said about it."""
    assert isinstance(exc, UpstreamError)
    page = error_page(request, exc.page_status, "This page is unavailable", exc.message)
    return come_back_later(page, exc.retry_after)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """Active drops with their phase, countdown, stock and entries; live once JS runs."""
    try:
        data, age = await web_state(request).pages.get("/api/drops/active")
    except UpstreamError as exc:
        return error_page(request, 503, "Drops are unavailable", exc.message)
    context = {"drops": data.get("drops", []), "server_time": server_time(data, age)}
    return render(request, "home.html", context)


@router.get("/drop/{drop_id}", response_class=HTMLResponse)
async def drop_page(request: Request, drop_id: str) -> Response:
    """One drop: the whole journey from entry to purchase, and its fairness proof."""
    if not is_id(drop_id):
        return error_page(request, 404, "No such drop", "That drop address is not valid.")
    try:
        data, age = await web_state(request).pages.get(f"/api/drop/{drop_id}/status")
    except UpstreamError as exc:
        if exc.status == 404:
            return error_page(request, 404, "No such drop", f"There is no drop called {drop_id}.")
        return error_page(request, 503, "This drop is unavailable", exc.message)
    drop = {k: v for k, v in data.items() if k != "serverTime"}
    context = {"drop": drop, "server_time": server_time(data, age)}
    return render(request, "drop.html", context)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "web"}
