"""The admin console: sign in with ADMIN_SECRET, create drops, run the draw, promote backups.

The secret is typed once into a server-side login and never reaches the page or its
scripts: the browser holds only an HttpOnly, SameSite=Strict cookie signed with the secret,
and every admin action is a plain form post the server turns into an API call with the
bearer. That keeps the console usable without JavaScript and out of reach of page scripts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from apps.web.pages import render
from apps.web.state import web_state
from apps.web.upstream import UpstreamError

router = APIRouter(prefix="/admin", include_in_schema=False)

COOKIE = "drop_admin"
SESSION_MS = 8 * 3600 * 1000
DEFAULT_IMAGE = "/static/img/jacket.svg"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _sign(secret: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"web-admin:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def signed_in(request: Request) -> bool:
    raw = request.cookies.get(COOKIE, "")
    expires, _, _ = raw.partition(".")
    if not expires.isdigit() or int(expires) < _now_ms():
        return False
    expected = _sign(web_state(request).admin_secret, int(expires))
    return hmac.compare_digest(raw.encode(), expected.encode())


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (the cookie is SameSite=Strict too; this is belt and braces)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


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
        "server_time": server_time,
        "form": form or {"imageUrl": DEFAULT_IMAGE},
        "notice": request.query_params.get("notice", ""),
        "error": error or request.query_params.get("error", ""),
    }
    return render(request, "admin.html", context, status)


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
    if not signed_in(request):
        return render(request, "admin_login.html", {"error": ""})
    return await _dashboard(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    given = form.get("secret", "").encode()
    if not _same_origin(request) or not hmac.compare_digest(
        given, web_state(request).admin_secret.encode()
    ):
        context = {"error": "That secret is not right."}
        return render(request, "admin_login.html", context, 401)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        COOKIE,
        _sign(web_state(request).admin_secret, _now_ms() + SESSION_MS),
        max_age=SESSION_MS // 1000,
        httponly=True,
        samesite="strict",
        # uvicorn sets the scheme from X-Forwarded-Proto when a trusted proxy sent it.
        secure=web_state(request).secure_cookies or request.url.scheme == "https",
        path="/admin",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


def _guard(request: Request) -> Response | None:
    if not signed_in(request):
        return RedirectResponse("/admin", status_code=303)
    if not _same_origin(request):
        return HTMLResponse("cross-site request refused", status_code=403)
    return None


@router.post("/drops")
async def create_drop(request: Request) -> Response:
    if (refused := _guard(request)) is not None:
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
        return await _dashboard(request, form=form, error=exc.message, status=exc.status)
    return _back(notice=f"Created {body['dropId']}")


@router.post("/by-id/{action}")
async def action_by_id(request: Request, action: str) -> Response:
    if (refused := _guard(request)) is not None:
        return refused
    drop_id = (await _form(request)).get("dropId", "").strip()
    if not drop_id:
        return _back(error="Give the drop's id")
    return await _act(request, drop_id, action)


@router.post("/drops/{drop_id}/{action}")
async def drop_action(request: Request, drop_id: str, action: str) -> Response:
    if (refused := _guard(request)) is not None:
        return refused
    return await _act(request, drop_id, action)


async def _act(request: Request, drop_id: str, action: str) -> Response:
    if action not in ("lottery", "promote"):
        return _back(error=f"Unknown action {action}")
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


# --- form → DropConfig --------------------------------------------------------------------


def _number(form: dict[str, str], name: str, label: str, kind: type = int) -> Any:
    raw = form.get(name, "").strip()
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{label} must be a number") from None


def _when(value: str, tz_offset_min: int, fallback: int) -> int:
    """A datetime-local value in the admin's time zone, as ms since the epoch."""
    if not value.strip():
        return fallback
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time") from None
    # getTimezoneOffset() is UTC minus local time, in minutes.
    utc = naive + timedelta(minutes=tz_offset_min)
    return int((utc - datetime(1970, 1, 1)).total_seconds() * 1000)


def _fence(form: dict[str, str]) -> dict[str, Any] | None:
    kind = form.get("geoFenceType", "none")
    name = form.get("geoFenceName", "").strip() or None
    if kind == "radius":
        return {
            "type": "radius",
            "center": {
                "lat": _number(form, "geoLat", "Latitude", float),
                "lng": _number(form, "geoLng", "Longitude", float),
            },
            "radiusMeters": _number(form, "geoRadius", "Radius", float),
            "name": name,
        }
    if kind == "polygon":
        vertices = []
        for line in form.get("geoPolygon", "").splitlines():
            if not line.strip():
                continue
            lat, _, lng = line.partition(",")
            try:
                vertices.append({"lat": float(lat), "lng": float(lng)})
            except ValueError:
                raise ValueError(f"Polygon vertex {line.strip()!r} is not 'lat, lng'") from None
        return {"type": "polygon", "vertices": vertices, "name": name}
    return None


def drop_config(form: dict[str, str], now_ms: int) -> dict[str, Any]:
    """Turn the create-drop form into the API's DropConfig body (ValueError if unreadable)."""
    tz = int(form.get("tzOffset") or 0)
    start = _when(form.get("registrationStart", ""), tz, now_ms)
    end = _when(form.get("registrationEnd", ""), tz, start + 3_600_000)
    name = form.get("productName", "").strip()
    drop_id = form.get("dropId", "").strip() or _slug(name)
    body: dict[str, Any] = {
        "dropId": drop_id,
        "productName": name or "Limited drop",
        "productDescription": form.get("productDescription", "").strip(),
        "imageUrl": form.get("imageUrl", "").strip(),
        "inventory": _number(form, "inventory", "Inventory"),
        "registrationStart": start,
        "registrationEnd": end,
        "purchaseWindow": _number(form, "purchaseWindow", "Purchase window"),
        "ticketPriceUnit": _number(form, "ticketPriceUnit", "Ticket price unit", float),
        "maxTicketsPerUser": _number(form, "maxTicketsPerUser", "Max tickets"),
        "backupMultiplier": _number(form, "backupMultiplier", "Backup multiplier", float),
    }
    fence = _fence(form)
    if fence is not None:
        body["geoFence"] = fence
        body["geoFenceMode"] = form.get("geoFenceMode", "bonus")
        body["geoFenceBonusMultiplier"] = _number(
            form, "geoFenceBonusMultiplier", "Bonus multiplier", float
        )
    return body


def _slug(name: str) -> str:
    base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:60] or "drop"
    return f"{base}-{secrets.token_hex(3)}"
