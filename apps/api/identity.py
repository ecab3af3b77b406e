"""Who may act as a userId: the first registration anywhere claims it, for good.

The claim stores a hash of a claim secret. The client picks the secret and sends it as
`X-Claim-Secret` (the site does), or, for clients of the original contract that send none,
the server makes one and returns it once as `recoveryCode`. Every later registration of
the id, in any drop, must prove the claim with the holder's session or that secret;
otherwise 403 `user_claimed`. A session is only ever issued to a request that proved the
claim (or made it) itself: never for knowing a user id or an Idempotency-Key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from apps.api import sessions
from apps.api.errors import ApiError
from apps.api.guards import fail_closed
from apps.api.state import ApiState
from drop import events
from drop.adapters.claim_store import Claim, ClaimStore
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import DurableCallError
from drop.domain import claims

CLAIM_HEADER = "x-claim-secret"

log = logging.getLogger("api.identity")


@dataclass(frozen=True)
class Holder:
    """The caller of one registration, as far as this request proves.

    `claim` is the claim the request proved (or made); None while the id is still free.
    `recovery_code` is set when this request is to claim the id with a server-made secret.
    """

    user_id: str
    secret_hash: str
    claim: Claim | None = None
    recovery_code: str | None = None
    made_here: bool = False

    @property
    def caller(self) -> str:
        return claims.holder_fingerprint(self.user_id, self.secret_hash)


def claimed(user_id: str) -> ApiError:
    return ApiError(
        403,
        "user_claimed",
        f"userId {user_id} already belongs to someone; prove it is yours with its session, "
        "its claim secret (X-Claim-Secret) or its recovery code (POST /api/session/recover)",
    )


def presented_secret(request: Request) -> str | None:
    secret = request.headers.get(CLAIM_HEADER)
    if secret is None:
        return None
    if not claims.is_well_formed(secret):
        raise ApiError(
            400, "claim_secret_invalid", "X-Claim-Secret must be 22-200 characters [A-Za-z0-9_-]"
        )
    return secret


async def store(bus: Bus) -> ClaimStore:
    return ClaimStore(await bus.kv(events.USER_CLAIMS_BUCKET))


async def identify(request: Request, state: ApiState, bus: Bus, user_id: str) -> Holder:
    """The proven holder of a claimed id, or a would-be holder of a free one; else 403."""
    secret = presented_secret(request)
    async with fail_closed("claim store"):
        claim = await (await store(bus)).get(user_id)
    if claim is None:
        chosen = secret if secret is not None else claims.new_recovery_code()
        code = None if secret is not None else chosen
        return Holder(user_id, claims.secret_hash(user_id, chosen), recovery_code=code)
    if secret is not None and claims.secret_matches(claim.secret_hash, user_id, secret):
        return Holder(user_id, claim.secret_hash, claim)
    if await sessions.session_user(request, bus, state.api, state.secrets) == user_id:
        return Holder(user_id, claim.secret_hash, claim)
    raise claimed(user_id)


async def claim(bus: Bus, holder: Holder) -> Holder:
    """Make the claim of a free id (compare-and-set); a proven holder passes unchanged."""
    if holder.claim is not None:
        return holder
    async with fail_closed("claim store"):
        claims_kv = await store(bus)
        made = await claims_kv.create(holder.user_id, holder.secret_hash)
        if made is not None:
            return replace(holder, claim=made, made_here=True)
        # Somebody claimed it first: the same secret (a double click) still proves it.
        first = await claims_kv.get(holder.user_id)
    if first is not None and first.secret_hash == holder.secret_hash:
        return replace(holder, claim=first, recovery_code=None)
    raise claimed(holder.user_id)


async def admit(
    request: Request, response: Response, bus: Bus, holder: Holder, state: ApiState
) -> None:
    """Issue the session: only ever called once `holder` proved or made the claim."""
    if holder.claim is None:
        raise claimed(holder.user_id)
    await sessions.issue(
        request, response, bus, holder.user_id, state.api, state.secrets, first=holder.made_here
    )


def with_recovery_code(holder: Holder, body: dict[str, Any]) -> dict[str, Any]:
    """The registration answer, with the server-made recovery code the one time it exists."""
    if holder.made_here and holder.recovery_code:
        return {**body, "recoveryCode": holder.recovery_code}
    return body


async def refused(
    request: Request, bus: Bus, state: ApiState, holder: Holder, exc: ApiError | DurableCallError
) -> Response:
    """The durable registration failed (its own error, or a refusal mapped to ApiError).
    Already registered: the holder gets their session back (409 with `sessionIssued`).
    Otherwise a claim made by this request is given back, unless the entry may have been
    stored (5xx) and the client holds the secret to retry."""
    if exc.code == "already_registered" and holder.claim is not None:
        body = with_recovery_code(
            holder, {"error": exc.message, "code": exc.code, "sessionIssued": True}
        )
        response = JSONResponse(body, status_code=409)
        await admit(request, response, bus, holder, state)
        return response
    client_can_retry = holder.recovery_code is None and exc.status >= 500
    if holder.made_here and holder.claim is not None and not client_can_retry:
        await release(bus, holder.claim)
    raise exc


async def release(bus: Bus, made: Claim) -> None:
    try:
        async with fail_closed("claim store"):
            if not await (await store(bus)).release(made):
                log.warning("claim on %s changed before it could be released", made.user_id)
    except ApiError:
        log.warning("claim on %s could not be released", made.user_id)


async def recover(request: Request, state: ApiState, bus: Bus, user_id: str, code: str) -> Response:
    """A session for the holder of `user_id`, proven by the claim secret or recovery code.
    Recovering ends every earlier session: whoever held one (a stolen cookie, a lost phone)
    is signed out on every replica at once."""
    async with fail_closed("claim store"):
        found = await (await store(bus)).get(user_id)
    if found is None or not claims.secret_matches(found.secret_hash, user_id, code):
        raise ApiError(403, "recovery_failed", "this recovery code does not match this userId")
    revoked = await sessions.revoke_all(bus, user_id)
    body = {"success": True, "userId": user_id, "sessionIssued": True, "revokedSessions": revoked}
    response = JSONResponse(body)
    await sessions.issue(request, response, bus, user_id, state.api, state.secrets)
    return response
