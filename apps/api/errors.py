"""Every failure answers JSON with a reason: 400 validation, the durable layer's own status,
504 on its timeout — never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.exceptions import HTTPException

from drop.adapters.restate_ingress import DurableCallError
from drop.contracts import ErrorOut

log = logging.getLogger("api")

REFUSALS = Counter(
    "api_refusals_total",
    "Requests the API refused with a reason: its guards (rate limit, queue token, bot "
    "check, proof of work) and the drop's rules",
    ["reason"],
)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers
        # Counted when made: some refusals are answered by the route itself, not raised.
        REFUSALS.labels(code).inc()


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For OpenAPI: a route's refusals, each answered as `ErrorOut` (docs/contract.md, Errors).
    Validation's 400 is on every route with input, so it is listed by each of them."""
    return {
        status: {"model": ErrorOut, "description": "refused, with a reason"} for status in statuses
    }


def _path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"path": _path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    return JSONResponse({"error": "Validation failed", "details": details}, status_code=400)


async def _durable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DurableCallError)
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.status)


async def _api(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        {"error": exc.message, "code": exc.code}, status_code=exc.status, headers=exc.headers
    )


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _bus(request: Request, exc: Exception) -> JSONResponse:
    # A NATS read or write no guard wrapped (the guards' own answer `guard_unavailable`):
    # NATS slow, moving or gone is a moment to come back after, not an internal error.
    log.warning("event bus failed on %s %s: %r", request.method, request.url.path, exc)
    body = {"error": "event bus unavailable", "code": "nats_unavailable"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error", "code": "internal"}, status_code=502)


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

# The failures answered with a reason; anything else is `_unexpected`'s 502.
HANDLERS: dict[type[Exception], Handler] = {
    RequestValidationError: _validation,
    DurableCallError: _durable,
    ApiError: _api,
    HTTPException: _http,
    nats.errors.Error: _bus,
}
HANDLED = tuple(HANDLERS)


async def answer(request: Request, exc: Exception) -> JSONResponse:
    """The answer FastAPI's handlers give `exc`, one of HANDLED (for `apps.api.hot_routes`,
    which answers before FastAPI's exception middleware)."""
    kind = next(k for k in type(exc).__mro__ if k in HANDLERS)
    return await HANDLERS[kind](request, exc)


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(Exception, _unexpected)
    _declare_validation_as_400(app)


# What FastAPI declares for validation, which this API answers as 400 `ErrorOut` instead.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_VALIDATION_400 = {
    "description": "refused, with a reason (validation: `details` names each field)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _is_fastapi_validation(response: dict[str, Any] | None) -> bool:
    """FastAPI's own 422, not one a route declares (`idempotency_key_reused` is a 422)."""
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _declare_validation_as_400(app: FastAPI) -> None:
    """The OpenAPI document says what clients get: FastAPI lists a 422 on every route with
    input, but validation here is 400 `{error, details}` (see `_validation`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if _is_fastapi_validation(responses.get("422")):
                        del responses["422"]
                        responses.setdefault("400", _VALIDATION_400)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name in _FASTAPI_VALIDATION:
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
