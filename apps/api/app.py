"""The API app factory: settings are read here (or passed in by tests) and handed down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from apps.api import errors, guards, hot_routes, proofs
from apps.api.routes import (
    admin,
    alarms,
    drops,
    fairness,
    health,
    mail,
    orders,
    participant,
    pow,
    purchase,
    session,
    sizes,
    webhooks,
)
from apps.api.routes import queue as queue_routes
from apps.api.state import ApiState
from drop import metrics, tracing
from drop.adapters.restate_ingress import RestateIngress
from drop.asgi_limits import API_MAX_BODY, BodyLimit
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
)


def create_app(
    connections: ConnectionSettings | None = None,
    secrets: SecretSettings | None = None,
    api: ApiSettings | None = None,
    queue: QueueSettings | None = None,
    nats_auth: NatsAuthSettings | None = None,
) -> FastAPI:
    connections = connections or ConnectionSettings()
    api = api or ApiSettings()
    state = ApiState(
        connections=connections,
        secrets=secrets or SecretSettings(),
        api=api,
        queue=queue or QueueSettings(),
        ingress=RestateIngress.create(
            connections.restate_ingress_url, connections.restate_timeout_seconds
        ),
        nats_auth=nats_auth or NatsAuthSettings(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guards.warn_if_relaxed(state)
        state.start()
        yield
        await state.stop()

    app = FastAPI(
        title="Product Drop API",
        description="Limited-inventory drops run as provably fair lotteries.",
        version="1.0",
        lifespan=lifespan,
        # Traces are drop.tracing's and metrics drop.metrics'; FastAPI's own telemetry would
        # only look up OpenTelemetry's global providers on every request to find them unset.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.api = state
    # Innermost: the crowd's routes skip routing, but not the middlewares' duties.
    app.add_middleware(hot_routes.HotRoutes, state=state)
    app.add_middleware(BodyLimit, max_bytes=API_MAX_BODY)
    app.add_middleware(proofs.ServeCached, cache=state.proofs)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=api.cors_origin_list,
        allow_credentials=True,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Claim-Secret"],
        expose_headers=["X-Session-Token", "Retry-After"],
    )
    errors.install(app)
    app.add_middleware(health.Liveness, state=state)
    app.include_router(health.router)
    app.include_router(alarms.router)
    app.include_router(sizes.router)
    app.include_router(drops.router)
    app.include_router(fairness.router)
    app.include_router(purchase.router)
    app.include_router(participant.router)
    app.include_router(session.router)
    app.include_router(mail.router)
    app.include_router(orders.router)
    app.include_router(admin.router)
    app.include_router(pow.router)
    app.include_router(queue_routes.router)
    app.include_router(webhooks.router)
    # Outermost: every answer is counted, the middlewares' own refusals included.
    metrics.instrument_http(app, "api")
    tracing.instrument_fastapi(app)
    return app
