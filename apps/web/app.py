"""The web app factory: settings are read here (or passed in by tests) and handed down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from apps.web import (
    admin,
    admin_webhooks,
    funnel,
    mail_pages,
    orders_export,
    pages,
    proxy,
    ready,
)
from apps.web.headers import SecurityHeaders
from apps.web.page_cache import PageCache
from apps.web.state import WebState
from apps.web.upstream import UpstreamError, Upstreams
from apps.web.views import STATIC_DIR, build_templates
from drop import metrics, tracing
from drop.asgi_limits import API_MAX_BODY, PROXY_MAX_BODY, BodyLimit
from drop.settings import (
    ConnectionSettings,
    MetricsSettings,
    RuntimeSettings,
    SecretSettings,
    WebSettings,
)


def create_app(
    connections: ConnectionSettings | None = None,
    secrets: SecretSettings | None = None,
    web: WebSettings | None = None,
    runtime: RuntimeSettings | None = None,
) -> FastAPI:
    runtime = runtime or RuntimeSettings()
    connections = connections or ConnectionSettings()
    secrets = secrets or SecretSettings()
    web = web or WebSettings()
    upstreams = Upstreams.create(
        connections.internal_api_url,
        connections.internal_sse_url,
        MetricsSettings().api_metrics_url(connections.internal_api_url),
    )
    state = WebState(
        upstreams=upstreams,
        admin_secret=secrets.admin_secret,
        pages=PageCache(upstreams.get_json, web.web_page_cache_seconds),
        secure_cookies=runtime.production,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.upstreams.close()

    app = FastAPI(
        title="Product Drop web",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.web = state
    app.add_exception_handler(UpstreamError, pages.unavailable)
    app.state.templates = build_templates(reload=runtime.drop_env == "development")
    # The admin console takes small forms; the proxy passes bodies on to the API's own cap.
    app.add_middleware(BodyLimit, max_bytes=PROXY_MAX_BODY, prefixes={"/admin": API_MAX_BODY})
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(mail_pages.router)
    app.include_router(ready.router)
    app.include_router(admin.router)
    app.include_router(orders_export.router)
    app.include_router(admin_webhooks.router)
    app.include_router(funnel.router)
    app.include_router(proxy.router)
    metrics.instrument_http(app, "web")
    # Outermost, like the api's: the proxied call's traceparent names the web's span.
    tracing.instrument_fastapi(app, also_excluded=["/static/"])
    return app
