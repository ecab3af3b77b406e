"""Guards in front of registration and the waiting room: rate limit, queue token, bot checks.

Registration runs them in this order, each refusing with a clear 4xx:
  1. the queue token is ready and belongs to this drop (checked read-only, so a refused
     token never costs the caller their proof-of-work challenge);
  2. rate limit per hashed IP (429 with Retry-After), for every registration that does not
     hold a ready token: a ready token was admitted by the waiting room, which already
     limits each network (its joins, and its live places), and its ready window must not
     run out behind a per-IP limit that the people sharing one address exhaust together;
  3. bot validation: the PoW challenge's signature, age and solution at its signed
     difficulty are checked and it is spent once (a create of its key), then the trust
     score (behaviour signals from the body, else the last heartbeat's) must pass;
  4. the queue token is marked used, atomically in the drop's QueueAdmission object and
     bound to the user, so one token never lets two users in.

Every guard fails closed: when NATS cannot be reached they answer 503, never "allow".
IPs and device fingerprints are only ever stored or sent on as HMAC-SHA256 digests keyed
with IP_HASH_SALT.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import nats.errors
from fastapi import Request

from apps.api import queue_view
from apps.api.errors import ApiError
from apps.api.state import ApiState
from drop import events
from drop.adapters.behavior_store import BehaviorStore
from drop.adapters.nats_bus import Bus
from drop.adapters.pow_store import PowStore, StoredChallenge
from drop.adapters.rate_limit import RateLimitContention, RateLimiter
from drop.contracts import BehaviorSignalsIn, RegisterIn
from drop.domain import pow as pow_rules
from drop.domain import trust
from drop.domain.errors import ValidationFailed
from drop.domain.queue_rules import token_belongs_to, token_is_well_formed

log = logging.getLogger("api.guards")

DIGEST_LENGTH = 32


def warn_if_relaxed(state: ApiState) -> None:
    """The switches that turn guards off are for load tests only: say so loudly."""
    if state.api.skip_rate_limit:
        log.warning("SKIP_RATE_LIMIT is set: rate limits are OFF (load tests only)")
    if not state.queue.queue_enabled:
        log.warning("QUEUE_ENABLED=false: registration needs no queue token (load tests only)")
    if not state.api.bot_check_enabled:
        log.warning("BOT_CHECK_ENABLED=false: no proof-of-work or trust score (load tests only)")


def digest(state: ApiState, kind: str, value: str) -> str:
    """Keyed hash (HMAC-SHA256 with IP_HASH_SALT) of an IP or fingerprint."""
    key = state.secrets.ip_hash_salt.encode()
    return hmac.digest(key, f"{kind}:{value}".encode(), "sha256").hex()[:DIGEST_LENGTH]


def client_ip_hash(request: Request, state: ApiState) -> str:
    host = request.client.host if request.client else "unknown"
    return digest(state, "ip", host)


@asynccontextmanager
async def fail_closed(what: str) -> AsyncIterator[None]:
    """A guard that cannot reach its store refuses (503) instead of letting the call in."""
    try:
        yield
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        log.warning("%s unavailable, refusing: %r", what, exc)
        raise ApiError(
            503, "guard_unavailable", f"{what} is unavailable, try again", {"Retry-After": "2"}
        ) from exc


async def rate_limit(
    request: Request, state: ApiState, bus: Bus, scope: str, limit: int | None = None
) -> None:
    """Count this request against its hashed IP's budget in `scope`; 429 past the limit."""
    if state.api.skip_rate_limit:
        return
    allowed = state.api.rate_limit_default if limit is None else limit
    async with fail_closed("rate limiter"):
        limiter = RateLimiter(await bus.kv(events.RATE_LIMIT_BUCKET), memo=state.rate_memo)
        try:
            decision = await limiter.hit(
                scope, client_ip_hash(request, state), allowed, state.api.rate_limit_window_seconds
            )
        except RateLimitContention as exc:
            raise ApiError(429, "rate_limited", "too many requests", {"Retry-After": "1"}) from exc
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"at most {allowed} requests per {state.api.rate_limit_window_seconds}s; "
            f"retry in {decision.retry_after_s}s",
            {"Retry-After": str(decision.retry_after_s)},
        )


@dataclass
class Reads:
    """The registration guards' reads (the token's view), started before the claim check so
    that its round trip overlaps others instead of following them. Each is awaited where
    its guard runs, inside that guard's `fail_closed`, so a refusal comes in the same order
    and a store that cannot be read still refuses."""

    token_view: asyncio.Task[dict[str, Any]] | None = None

    @classmethod
    def start(cls, state: ApiState, bus: Bus, drop_id: str, body: RegisterIn) -> Reads:
        reads = cls()
        if state.queue.queue_enabled and body.queue_token:
            reads.token_view = asyncio.create_task(
                queue_view.token_view(bus, drop_id, body.queue_token)
            )
        return reads

    def close(self) -> None:
        """Drop the reads a refusal left unused (their errors included)."""
        task = self.token_view
        if task is None:
            return
        if task.done() and not task.cancelled():
            task.exception()
        else:
            task.cancel()


async def check_registration(
    request: Request,
    state: ApiState,
    bus: Bus,
    drop_id: str,
    body: RegisterIn,
    reads: Reads | None = None,
) -> str | None:
    """Refuse the registration (raise ApiError) unless every guard passes, in order; the
    queue token to spend comes back (None when the waiting room is off)."""
    reads = reads or Reads()
    token = await _admitted(request, state, bus, drop_id, body, reads)
    if state.api.bot_check_enabled:
        await _bot_check(state, bus, drop_id, body, token)
    return token


# The original service's messages (docs/contract.md, Registration): clients re-join the
# waiting room on them.
TOKEN_REQUIRED = "Queue token required"
TOKEN_INVALID = "Invalid or expired queue token"
TOKEN_NOT_READY = "Queue token not ready - please wait for your turn"

# Every refusal of a queue token, at the check or when the registration batch spends it
# (it may have changed in between), answers with the original messages.
_TOKEN_REFUSALS = {
    "queue_token_invalid": (403, TOKEN_INVALID),
    "queue_token_wrong_drop": (403, TOKEN_INVALID),
    "queue_token_used": (403, TOKEN_INVALID),
    "queue_token_expired": (403, TOKEN_INVALID),
    "queue_token_not_ready": (429, TOKEN_NOT_READY),
}


def _token_refused(code: str) -> ApiError:
    status, message = _TOKEN_REFUSALS[code]
    return ApiError(status, code, message)


def refusal(status: int, code: str, message: str) -> ApiError:
    """The API's answer to a refusal that came back from a batch."""
    if code in _TOKEN_REFUSALS:
        return _token_refused(code)
    return ApiError(status, code, message)


async def _admitted(
    request: Request, state: ApiState, bus: Bus, drop_id: str, body: RegisterIn, reads: Reads
) -> str | None:
    """The ready queue token (uncounted), or the registration counted against its IP's
    limit and then its token checked (a 429 comes before the token's refusal)."""
    if state.queue.queue_enabled and body.queue_token:
        async with fail_closed("queue token store"):
            view = await _token_view(bus, drop_id, body.queue_token, reads)
        if view.get("status") == "ready":
            return body.queue_token
    await rate_limit(request, state, bus, "register", state.api.rate_limit_register)
    return await _ready_token(bus, drop_id, body, reads) if state.queue.queue_enabled else None


async def _token_view(bus: Bus, drop_id: str, token: str, reads: Reads) -> dict[str, Any]:
    if reads.token_view is not None:
        return await reads.token_view
    return await queue_view.token_view(bus, drop_id, token)


async def _ready_token(bus: Bus, drop_id: str, body: RegisterIn, reads: Reads) -> str:
    """The token's state from the waiting room's mirror. The registration batch spends it
    for real (bound to this user, so a registration that failed can be retried by them)."""
    token = body.queue_token
    if not token:
        raise ApiError(400, "queue_token_required", TOKEN_REQUIRED)
    async with fail_closed("queue token store"):
        answer = await _token_view(bus, drop_id, token, reads)
    if not answer.get("found"):
        if token_belongs_to(token, drop_id) or not token_is_well_formed(token):
            raise _token_refused("queue_token_invalid")
        raise _token_refused("queue_token_wrong_drop")
    status = answer.get("status")
    if status == "used" and answer.get("usedBy") != body.user_id:
        raise _token_refused("queue_token_used")
    if status == "expired":
        raise _token_refused("queue_token_expired")
    if status == "waiting":
        raise _token_refused("queue_token_not_ready")
    return token


async def _bot_check(
    state: ApiState, bus: Bus, drop_id: str, body: RegisterIn, token: str | None
) -> None:
    bot = body.bot_validation
    if bot is None:
        raise ApiError(400, "bot_validation_required", "botValidation is required")
    await _spend_pow(state, bus, bot.pow_challenge, bot.pow_solution)
    behavior = await _behavior(state, bus, drop_id, body.behavior_signals, token)
    decision = trust.decide_trust(
        bot.fingerprint,
        bot.fingerprint_confidence,
        bot.timing_ms,
        pow_valid=True,  # an invalid one was refused above
        min_score=state.api.min_trust_score,
        behavior=behavior,
        min_behavior=state.queue.queue_min_behavior_score,
    )
    if not decision.passed:
        log.info("registration refused as a bot: %s (score %s)", decision.reason, decision.score)
        raise ApiError(403, "bot_suspected", f"bot check failed: {decision.reason}")


REPLAYED = (403, "pow_replayed", "this proof-of-work challenge was already used")
NOT_ISSUED = (403, "pow_invalid", "this proof-of-work challenge was not issued here")
WRONG = (403, "pow_invalid", "the proof-of-work solution is wrong")


async def _spend_pow(state: ApiState, bus: Bus, challenge: str, nonce: str) -> None:
    """Refuse unless the challenge was issued here, is fresh, is solved at the difficulty it
    was issued for, and is spent now for the first time."""
    try:
        pow_rules.parse_challenge(challenge)
    except ValidationFailed as exc:
        raise ApiError(403, "pow_invalid", "malformed proof-of-work challenge") from exc
    ttl_ms = state.api.pow_challenge_ttl_seconds * 1000
    if not pow_rules.is_fresh(challenge, int(time.time() * 1000), ttl_ms):
        raise ApiError(403, "pow_expired", "this proof-of-work challenge has expired")
    difficulty = pow_rules.signed_difficulty(state.pow_key, challenge, state.api.pow_difficulty)
    async with fail_closed("proof-of-work store"):
        store = PowStore(await bus.kv(events.POW_BUCKET))
        if difficulty is None:
            await _spend_stored(store, challenge, nonce)
            return
        if not pow_rules.verify_solution(challenge, nonce, difficulty):
            raise ApiError(*WRONG)
        if not await store.mark_spent(challenge):
            raise ApiError(*REPLAYED)


async def _spend_stored(store: PowStore, challenge: str, nonce: str) -> None:
    """A challenge the previous build issued and stored (during a deploy, for its life)."""
    found = await store.find_stored(challenge)
    if found == "spent":
        raise ApiError(*REPLAYED)
    if not isinstance(found, StoredChallenge):
        raise ApiError(*NOT_ISSUED)
    if not pow_rules.verify_solution(challenge, nonce, found.difficulty):
        raise ApiError(*WRONG)
    if not await store.spend_stored(found):
        raise ApiError(*REPLAYED)


def behavior_score(signals: BehaviorSignalsIn) -> float:
    return trust.behavior_score(trust.BehaviorSignals(**signals.model_dump()))


async def _behavior(
    state: ApiState, bus: Bus, drop_id: str, signals: BehaviorSignalsIn | None, token: str | None
) -> float | None:
    if signals is not None:
        return behavior_score(signals)
    if token is None:
        return None
    async with fail_closed("behaviour store"):
        return await BehaviorStore(await bus.kv(events.QUEUE_BEHAVIOR_BUCKET)).score(drop_id, token)


async def record_behavior(
    state: ApiState, bus: Bus, drop_id: str, token: str, signals: BehaviorSignalsIn
) -> float:
    """Score a heartbeat's behaviour signals and keep them for the registration's trust
    decision."""
    score = behavior_score(signals)
    async with fail_closed("behaviour store"):
        store = BehaviorStore(await bus.kv(events.QUEUE_BEHAVIOR_BUCKET))
        await store.save(drop_id, token, score, signals.wire())
    return score


def issue_challenge(state: ApiState) -> dict[str, object]:
    """A fresh single-use proof-of-work challenge, signed: issuing one stores nothing."""
    now = int(time.time() * 1000)
    challenge = pow_rules.sign_challenge(state.pow_key, now, state.api.pow_difficulty)
    return {"challenge": challenge, "difficulty": state.api.pow_difficulty, "timestamp": now}
