"""`Idempotency-Key`: a retried mutating call returns the first answer and changes nothing.

The first successful answer is kept in the NATS key-value bucket `idempotency` (24 h),
with a hash of the request's meaning and of the caller. A key is no password: a replay by
another caller is refused (403), a replay with another body is refused (422), and a replay
never mints a session by itself. The key is also passed to Restate, so two copies in
flight at once still run the durable step only once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
from fastapi import Request
from fastapi.responses import JSONResponse

from apps.api.errors import ApiError
from apps.api.guards import fail_closed
from drop import events
from drop.adapters.nats_bus import Bus
from drop.domain import claims

HEADER = "idempotency-key"

log = logging.getLogger("api.idempotency")


@dataclass(frozen=True)
class Scope:
    """One call's key (None without the header), what it means, and who makes it."""

    key: str | None
    body: str
    caller: str

    @classmethod
    def of(cls, request: Request, route: str, meaning: Any, caller: Callable[[], str]) -> Scope:
        """Without a key nothing is looked up or kept, so neither hash is worked out."""
        key = scoped_key(request, route)
        if key is None:
            return cls(None, "", "")
        return cls(key, claims.body_fingerprint(meaning), caller())


def scoped_key(request: Request, scope: str) -> str | None:
    raw = request.headers.get(HEADER)
    if not raw:
        return None
    digest = hashlib.sha256(f"{scope}\x00{raw}".encode()).hexdigest()
    return f"k{digest[:48]}"


@dataclass(frozen=True)
class Saved:
    """A stored first answer, the request it answered and who made that request.

    `unproven` marks an answer earned by a caller who proved no claim (a client of the
    original contract, whose id this very request claimed); `sealed` is then its recovery
    code, sealed under the client's Idempotency-Key (see `claims.seal_recovery_code`).
    """

    status: int
    answer: Any
    request: str
    caller: str
    unproven: bool = False
    sealed: str | None = None

    def refuse_other_body(self, body: str) -> None:
        if self.request != body:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request body",
            )

    def response(self, extra: dict[str, Any] | None = None) -> JSONResponse:
        answer = (
            {**self.answer, **extra} if extra and isinstance(self.answer, dict) else self.answer
        )
        response = JSONResponse(answer, status_code=self.status)
        response.headers["Idempotent-Replayed"] = "true"
        return response


async def lookup(bus: Bus, key: str | None) -> Saved | None:
    """What is stored under `key`, whoever asks: callers decide whom it is served to."""
    if key is None:
        return None
    async with fail_closed("idempotency store"):
        saved = await bus.get_json(events.IDEMPOTENCY_BUCKET, key)
    if not isinstance(saved, dict):
        return None
    return Saved(
        status=int(saved["status"]),
        answer=saved["answer"],
        request=str(saved.get("request")),
        caller=str(saved.get("caller")),
        unproven=saved.get("unproven") is True,
        sealed=saved.get("sealed") if isinstance(saved.get("sealed"), str) else None,
    )


def serve(saved: Saved, scope: Scope) -> JSONResponse:
    """The stored answer, only to the caller who made it and for the same request."""
    if saved.caller != scope.caller:
        raise ApiError(
            403, "idempotency_key_foreign", "this Idempotency-Key belongs to another caller"
        )
    saved.refuse_other_body(scope.body)
    return saved.response()


async def replay(bus: Bus, scope: Scope) -> JSONResponse | None:
    """The stored answer for this key, if the same caller sent the same request before."""
    saved = await lookup(bus, scope.key)
    return None if saved is None else serve(saved, scope)


async def once(bus: Bus, scope: Scope, call: Callable[[], Awaitable[Any]]) -> Any:
    """The first answer for `scope` if there was one, else `call()`'s, remembered."""
    replayed = await replay(bus, scope)
    if replayed is not None:
        return replayed
    answer = await call()
    await remember(bus, scope, 200, answer)
    return answer


async def remember(
    bus: Bus,
    scope: Scope,
    status: int,
    answer: Any,
    *,
    unproven: bool = False,
    sealed: str | None = None,
) -> None:
    """Keep the answer for replays. Best effort: the durable step already succeeded, so a
    store that cannot be reached must not turn that success into an error."""
    if scope.key is None:
        return
    record: dict[str, Any] = {
        "status": status,
        "answer": answer,
        "request": scope.body,
        "caller": scope.caller,
    }
    if unproven:
        record.update(unproven=True, sealed=sealed)
    try:
        kv = await bus.kv(events.IDEMPOTENCY_BUCKET)
        await kv.put(scope.key, json.dumps(record).encode())
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        log.warning("could not keep the answer for an idempotency key: %r", exc)
