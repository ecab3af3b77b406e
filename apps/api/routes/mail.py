"""Links in mail: a winner's single-use sign-in link, and one-click unsubscribe."""

from __future__ import annotations

import logging
from typing import Annotated

import nats.errors
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from apps.api import guards, sessions
from apps.api.deps import NatsBus, State
from apps.api.errors import ApiError, refusals
from drop import events
from drop.adapters.contact_store import ContactStore, use_once
from drop.contracts import Wire
from drop.domain import tokens

log = logging.getLogger("api.mail")

router = APIRouter(prefix="/api")

Token = Annotated[str, Query(min_length=1, max_length=2000, description="the token in the link")]


class LinkIn(Wire):
    token: str = Field(min_length=1, max_length=2000)


class UnsubscribedOut(Wire):
    success: bool = True
    unsubscribed: bool = True


@router.post("/session/link", responses=refusals(400, 409, 410, 503))
async def sign_in_with_link(body: LinkIn, request: Request, state: State, bus: NatsBus) -> Response:
    """Trade the sign-in link from a winner's mail for a session on this device (cookie and
    `X-Session-Token`). The link is bound to its userId and drop, valid until the purchase
    deadline, and works once on any replica: 409 `link_used` after that, 410
    `link_expired` past the deadline, 400 `link_invalid` for anything not made by us."""
    await guards.rate_limit(request, state, bus, "link", state.api.rate_limit_register)
    claim, reason = tokens.verify_link(state.secrets.session_secret, body.token, sessions.now_ms())
    if claim is None:
        if reason == "expired":
            raise ApiError(410, "link_expired", "this link's purchase window has ended")
        raise ApiError(400, "link_invalid", "this sign-in link is not valid")
    async with guards.fail_closed("link store"):
        first = await use_once(bus, claim.nonce)
    if not first:
        raise ApiError(
            409,
            "link_used",
            "this sign-in link has already been used: it works once, so that a forwarded or "
            "stolen mail cannot sign anyone else in. Continue on the device you opened it "
            "with, or recover your session with your recovery code",
        )
    answer = {"success": True, "userId": claim.user_id, "dropId": claim.drop_id}
    response = JSONResponse({**answer, "sessionIssued": True})
    try:
        await sessions.issue(request, response, bus, claim.user_id, state.api, state.secrets)
    except ApiError:
        # No session was made: the link may be used again. The refusal that says why (NATS
        # unavailable, say) is the answer, even when giving the link back fails as well.
        try:
            kv = await bus.kv(events.MAIL_LINKS_BUCKET)
            await kv.delete(claim.nonce)
        except (nats.errors.Error, OSError) as exc:
            log.warning("could not give back sign-in link %s: %r", claim.nonce[:8], exc)
        raise
    return response


@router.post("/mail/unsubscribe", responses=refusals(400, 503))
async def unsubscribe(token: Token, state: State, bus: NatsBus) -> UnsubscribedOut:
    """One-click unsubscribe (RFC 8058: mail clients POST `List-Unsubscribe=One-Click` to
    the `List-Unsubscribe` URL; the body is not needed). No more mail to this address, for
    this drop and every later one; registering again with it does not undo this."""
    found = tokens.verify_unsubscribe(state.secrets.session_secret, token)
    if found is None:
        raise ApiError(400, "unsubscribe_invalid", "this unsubscribe link is not valid")
    async with guards.fail_closed("contact store"):
        await ContactStore(bus).unsubscribe(*found)
    return UnsubscribedOut()
