"""What the web app holds while it runs."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from apps.web.page_cache import PageCache
from apps.web.upstream import Upstreams


@dataclass
class WebState:
    upstreams: Upstreams
    admin_secret: str
    pages: PageCache
    # Production is served over https only (Fly's proxy ends TLS): cookies say Secure there
    # even when that proxy is not one whose X-Forwarded-Proto this process trusts.
    secure_cookies: bool = False


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
