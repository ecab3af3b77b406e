"""The pages links in mail open: a winner's sign-in link and one-click unsubscribe.

Opening a link only shows a page with one button; the button's form post does the work.
Mail scanners that fetch every link in a message therefore neither spend a winner's
single-use link nor unsubscribe anyone.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from apps.web import proxy, retry
from apps.web.admin import _cross_site, _same_origin
from apps.web.pages import come_back_later, error_page, render
from apps.web.state import web_state
from apps.web.upstream import _error_message

router = APIRouter(include_in_schema=False)

MAX_TOKEN = 2000


async def _token(request: Request) -> str:
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        token = dict(parse_qsl(body)).get("token", "")
    else:
        token = request.query_params.get("token", "")
    return token if 0 < len(token) <= MAX_TOKEN else ""


async def _api_post(request: Request, path: str, **kwargs: Any) -> httpx.Response | None:
    """POST to the API as the visitor (their address and browser), or None unreachable."""
    upstreams = web_state(request).upstreams
    headers = {  # as bytes: a browser's header need not be ASCII (see proxy._forward_headers)
        b"user-agent": request.headers.get("user-agent", "").encode("latin-1"),
        b"x-forwarded-for": proxy._forwarded_for(request).encode("latin-1"),
        b"x-forwarded-proto": request.url.scheme.encode("latin-1"),
    }
    built = upstreams.reads.build_request(
        "POST", f"{upstreams.api_url}{path}", headers=headers, **kwargs
    )
    try:
        return await retry.send(upstreams.reads, built, stream=False)
    except httpx.HTTPError:
        return None


def _broken(request: Request, what: str) -> Response:
    return error_page(
        request,
        400,
        f"This {what} link is incomplete",
        "Copy the whole link from the mail, or open it with the button in the mail.",
    )


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> Response:
    token = await _token(request)
    if not token:
        return _broken(request, "sign-in")
    return render(request, "signin.html", {"token": token})


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Trade the link for a session cookie on this device, make the device the link's
    user (the site keeps who it is in localStorage) and open the drop's page; a used,
    expired or broken link gets a page that says which."""
    if not _same_origin(request):
        return _cross_site()
    token = await _token(request)
    if not token:
        return _broken(request, "sign-in")
    answer = await _api_post(request, "/api/session/link", json={"token": token})
    if answer is None:
        return come_back_later(
            error_page(
                request,
                503,
                "Sign-in is unavailable",
                "Try the link again in a moment: it has not been used.",
            )
        )
    if not answer.is_success:
        return _refused(request, answer)
    signed = answer.json()
    context = {"user_id": signed["userId"], "drop_id": signed["dropId"]}
    done = render(request, "signed_in.html", context)
    for cookie in answer.headers.get_list("set-cookie"):
        done.headers.append("set-cookie", cookie)
    return done


def _refused(request: Request, answer: httpx.Response) -> Response:
    code = ""
    with contextlib.suppress(ValueError):
        code = str(answer.json().get("code") or "")
    titles = {
        "link_used": "This link has already been used",
        "link_expired": "This link has expired",
        "link_invalid": "This link is not valid",
    }
    title = titles.get(code, "This link did not work")
    return error_page(request, answer.status_code, title, _error_message(answer))


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(request: Request) -> Response:
    token = await _token(request)
    if not token:
        return _broken(request, "unsubscribe")
    return render(request, "unsubscribe.html", {"token": token, "done": False})


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(request: Request) -> Response:
    if not _same_origin(request):
        return _cross_site()
    token = await _token(request)
    if not token:
        return _broken(request, "unsubscribe")
    answer = await _api_post(request, "/api/mail/unsubscribe", params={"token": token})
    if answer is None:
        page = error_page(request, 503, "Unsubscribing is unavailable", "Try again in a moment.")
        return come_back_later(page)
    if not answer.is_success:
        return error_page(
            request,
            answer.status_code,
            "This unsubscribe link did not work",
            _error_message(answer),
        )
    return render(request, "unsubscribe.html", {"token": token, "done": True})
