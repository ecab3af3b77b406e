"""The admin console: sign in with ADMIN_SECRET, create drops, run the draw, promote backups.

The secret is typed once into a server-side login and never reaches the page or its
scripts: the browser holds only an HttpOnly, SameSite=Strict cookie naming a session the
API keeps (so signing out ends it on every replica, and wrong secrets are rate limited),
and every admin action is a plain form post the server turns into an API call with the
bearer. That keeps the console usable without JavaScript and out of reach of page scripts.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from apps.web.drop_form import drop_config, size_rows
from apps.web.pages import come_back_later, render
from apps.web.state import web_state
from apps.web.upstream import UpstreamError
from drop.contracts import is_id
from drop.webhooks.catalog import EVENT_TYPES

router = APIRouter(prefix="/admin", include_in_schema=False)

COOKIE = "drop_admin"
DEFAULT_IMAGE = "/static/img/jacket.svg"
# The cookie holds the API's admin session token (token_urlsafe(32)); anything else is junk.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,100}")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _session_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE, "")
    return token if TOKEN_PATTERN.fullmatch(token) else None


async def signed_in(request: Request) -> bool:
    """The cookie names an admin session the API still holds (not signed out anywhere).
    When the API cannot tell (it fails or is out of reach), the UpstreamError goes on: the
    console answers that it is unavailable, not that the operator is signed out."""
    token = _session_token(request)
    if token is None:
        return False
    try:
        await web_state(request).upstreams.admin_call("GET", "/api/admin/session", token)
    except UpstreamError as exc:
        if exc.status in (401, 403):
            return False
        raise
    return True


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (the cookie is SameSite=Strict too; this is belt and braces)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _cross_site() -> Response:
    return HTMLResponse("cross-site request refused", status_code=403)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _back(notice: str = "", error: str = "") -> RedirectResponse:
    query = f"?notice={quote(notice)}" if notice else f"?error={quote(error)}" if error else ""
    return RedirectResponse(f"/admin{query}", status_code=303)


async def _dashboard(
    request: Request,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    try:
        data = await web_state(request).upstreams.get_json("/api/drops/active")
        drops, server_time = data.get("drops", []), int(data["serverTime"])
    except UpstreamError as exc:
        drops, server_time = [], _now_ms()
        error = error or f"Could not load drops: {exc.message}"
    context = {
        "drops": drops,
        "alarms": await _alarms(request),
        "webhooks": await _webhooks(request),
        "event_types": EVENT_TYPES,
        "server_time": server_time,
        "form": form or {"imageUrl": DEFAULT_IMAGE},
        "size_rows": size_rows(form or {}) or [{"id": "", "label": "", "inventory": ""}],
        "notice": request.query_params.get("notice", ""),
        "error": error or request.query_params.get("error", ""),
        **(extra or {}),
    }
    return render(request, "admin.html", context, status)


async def _webhooks(request: Request) -> list[dict[str, Any]] | None:
    """The webhook endpoints (None when they cannot be read)."""
    state = web_state(request)
    try:
        data = await state.upstreams.admin_get("/api/webhooks", state.admin_secret)
    except UpstreamError:
        return None
    return list(data.get("webhooks", []))


async def _alarms(request: Request) -> list[dict[str, Any]]:
    """Stuck invocations and halted drops; an alarm of its own when they cannot be read."""
    state = web_state(request)
    try:
        data = await state.upstreams.admin_get("/api/admin/alarms", state.admin_secret)
    except UpstreamError as exc:
        return [{"kind": "unknown", "dropId": "", "reason": f"alarms unreadable: {exc.message}"}]
    return list(data.get("alarms", []))


@router.get("", response_class=HTMLResponse)
async def admin_home(request: Request) -> Response:
    if not await signed_in(request):
        return render(request, "admin_login.html", {"error": ""})
    return await _dashboard(request)


def _login_refused(request: Request, exc: UpstreamError) -> Response:
    if exc.status == 429:
        wait = exc.retry_after or "60"
        context = {"error": f"Too many wrong secrets. Try again in {wait} seconds."}
        response = render(request, "admin_login.html", context, 429)
        response.headers["Retry-After"] = wait
        return response
    if exc.status in (401, 403):
        return render(request, "admin_login.html", {"error": "That secret is not right."}, 401)
    context = {"error": f"Sign-in failed: {exc.message}"}
    page = render(request, "admin_login.html", context, exc.page_status)
    return come_back_later(page, exc.retry_after)


@router.post("/login")
async def login(request: Request) -> Response:
    """The typed secret goes to the API, which counts wrong ones per address and overall,
    and opens a server-side session whose token is all the cookie holds."""
    if not _same_origin(request):
        return _cross_site()
    given = (await _form(request)).get("secret", "")
    if not given or not given.isascii() or not given.isprintable():
        return render(request, "admin_login.html", {"error": "That secret is not right."}, 401)
    client = request.client.host if request.client else ""
    try:
        opened = await web_state(request).upstreams.admin_call(
            "POST", "/api/admin/sessions", given, client=client
        )
    except UpstreamError as exc:
        return _login_refused(request, exc)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        COOKIE,
        str(opened["token"]),
        max_age=max(0, (int(opened["expiresAt"]) - _now_ms()) // 1000),
        httponly=True,
        samesite="strict",
        # uvicorn sets the scheme from X-Forwarded-Proto when a trusted proxy sent it.
        secure=web_state(request).secure_cookies or request.url.scheme == "https",
        path="/admin",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the API ends the session, so the cookie is refused everywhere from now on,
    even a copy of it."""
    if not _same_origin(request):
        return _cross_site()
    token = _session_token(request)
    if token is not None:
        try:
            await web_state(request).upstreams.admin_call(
                "POST", "/api/admin/session/revoke", token
            )
        except UpstreamError as exc:
            context = {"error": f"Could not sign out ({exc.message}); try again."}
            return render(request, "admin_login.html", context, 502)
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


async def _guard(request: Request) -> Response | None:
    if not _same_origin(request):
        return _cross_site()
    if not await signed_in(request):
        return RedirectResponse("/admin", status_code=303)
    return None


@router.get("/drops/{drop_id}", response_class=HTMLResponse)
async def drop_view(request: Request, drop_id: str) -> Response:
    """One drop for the operator: its state, its actions and, with sizes, the funnel per
    size (from the API's admin-only size funnel)."""
    if not await signed_in(request):
        return RedirectResponse("/admin", status_code=303)
    if not is_id(drop_id):
        return _back(error=f"{drop_id!r} is not a drop id")
    state = web_state(request)
    try:
        drop = await state.upstreams.get_json(f"/api/drop/{drop_id}/status")
        sizes = None
        if drop.get("variants") is not None:
            funnel = await state.upstreams.admin_get(
                f"/api/admin/drop/{drop_id}/sizes", state.admin_secret
            )
            sizes = funnel["variants"]
    except UpstreamError as exc:
        return _back(error=f"{drop_id}: {exc.message}")
    context = {"drop": drop, "sizes": sizes, "server_time": int(drop["serverTime"])}
    return render(request, "admin_drop.html", context)


@router.post("/drops")
async def create_drop(request: Request) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    form = await _form(request)
    try:
        body = drop_config(form, _now_ms())
    except ValueError as exc:
        return await _dashboard(request, form=form, error=str(exc), status=400)
    state = web_state(request)
    try:
        await state.upstreams.admin_post("/api/drops", state.admin_secret, body)
    except UpstreamError as exc:
        return await _dashboard(request, form=form, error=exc.message, status=exc.page_status)
    return _back(notice=f"Created {body['dropId']}")


@router.post("/by-id/{action}")
async def action_by_id(request: Request, action: str) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    drop_id = (await _form(request)).get("dropId", "").strip()
    if not drop_id:
        return _back(error="Give the drop's id")
    return await _act(request, drop_id, action)


@router.post("/drops/{drop_id}/{action}")
async def drop_action(request: Request, drop_id: str, action: str) -> Response:
    if (refused := await _guard(request)) is not None:
        return refused
    return await _act(request, drop_id, action)


async def _act(request: Request, drop_id: str, action: str) -> Response:
    if action not in ("lottery", "promote"):
        return _back(error=f"Unknown action {action}")
    if not is_id(drop_id):
        return _back(error=f"{drop_id!r} is not a drop id")
    state = web_state(request)
    try:
        answer = await state.upstreams.admin_post(
            f"/api/drop/{quote(drop_id, safe='')}/{action}", state.admin_secret
        )
    except UpstreamError as exc:
        return _back(error=f"{drop_id}: {exc.message}")
    if action == "lottery":
        winners = int(answer.get("winnerCount", 0))
        return _back(notice=f"Drew {drop_id}: {winners} winner{'' if winners == 1 else 's'}")
    return _back(notice=f"Promoted {answer.get('promoted')} in {drop_id}")
