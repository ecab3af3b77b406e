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


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
