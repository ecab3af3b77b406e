"""A retried registration converges: its stored answer comes back before any claim check.

A client of the original contract sends no claim secret. Its first registration claims
the id with a server-made recovery code; if that answer is lost, a retry with the same
Idempotency-Key and body can prove nothing, and used to meet 403 `user_claimed` for good.
It now gets the stored answer, but never a session: the answer carries the recovery code
again (sealed under the key the client sent, which the server does not keep, so only a
sender of that key opens it) and names the route that trades it for a session.

Idempotency stays scoped to caller and body: an answer earned with a claim secret or a
session is served only to a caller who proves that claim again; an answer earned without
any proof only to a caller who, like its first caller, presents no claim secret.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from apps.api import idempotency, identity
from apps.api.errors import ApiError
from apps.api.state import ApiState
from drop.adapters.nats_bus import Bus
from drop.domain import claims

RECOVER_WITH = "POST /api/session/recover {userId, recoveryCode}"


async def replay(
    request: Request, state: ApiState, bus: Bus, route: str, meaning: Any, user_id: str
) -> Response | None:
    """The stored answer to this registration, if there is one for this key and body."""
    key = idempotency.scoped_key(request, route)
    saved = await idempotency.lookup(bus, key)
    if saved is None:
        return None
    body = claims.body_fingerprint(meaning)
    try:
        holder = await identity.identify(request, state, bus, user_id)
    except ApiError as exc:
        if exc.code != "user_claimed" or not saved.unproven or _presents_secret(request):
            raise
        saved.refuse_other_body(body)
        return _unproven(request, saved, route)
    response = idempotency.serve(saved, idempotency.Scope(key, body, holder.caller))
    await identity.admit(request, response, bus, holder, state)
    return response


async def remember(
    request: Request,
    bus: Bus,
    scope: idempotency.Scope,
    route: str,
    holder: identity.Holder,
    answer: Any,
) -> None:
    """Keep the answer; one that claimed the id with a server-made code keeps that code,
    sealed, when the client's key is long enough to seal it with."""
    unproven = holder.made_here and holder.recovery_code is not None
    raw = request.headers.get(idempotency.HEADER, "")
    sealed = None
    if unproven and holder.recovery_code and claims.is_well_formed(raw):
        sealed = claims.seal_recovery_code(holder.recovery_code, raw, route)
    await idempotency.remember(bus, scope, 200, answer, unproven=unproven, sealed=sealed)


def _presents_secret(request: Request) -> bool:
    return request.headers.get(identity.CLAIM_HEADER) is not None


def _unproven(request: Request, saved: idempotency.Saved, route: str) -> Response:
    raw = request.headers.get(idempotency.HEADER, "")
    code = claims.open_recovery_code(saved.sealed, raw, route) if saved.sealed else None
    extra: dict[str, Any] = {"sessionIssued": False, "recoverWith": RECOVER_WITH}
    if code is not None:
        extra["recoveryCode"] = code
    return saved.response(extra)
