"""The sse app factory."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="Product Drop sse")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "sse"}

    return app
