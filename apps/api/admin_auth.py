"""Admin authentication: `Authorization: Bearer <ADMIN_SECRET>`, compared in constant time,
with wrong secrets limited per hashed IP and from everyone together.

Each attempt first reserves a place in both failure budgets (compare-and-set counters in
the `rate_limits` bucket, shared by every replica), and gives them back only when the
secret was right. So however many guesses arrive at once, on however many replicas, at
most the budget of them is ever compared in a window; past it every attempt, the right
secret included, is 429 with Retry-After until the window ends. The console's login goes
through here too (the web posts the typed secret as the bearer).
"""

from __future__ import annotations

import contextlib
import hmac

from fastapi import Request

from apps.api.errors import ApiError
from apps.api.guards import client_ip_hash, fail_closed
from apps.api.state import ApiState
from drop import events
from drop.adapters.nats_bus import Bus
from drop.adapters.rate_limit import RateDecision, RateLimitContention, RateLimiter

PER_IP_SCOPE = "admin-failures"
GLOBAL_SCOPE = "admin-failures-all"
GLOBAL_SUBJECT = "all"


def bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def too_many(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        "admin_rate_limited",
        f"too many wrong admin secrets; retry in {retry_after_s}s",
        {"Retry-After": str(retry_after_s)},
    )


async def check_secret(request: Request, state: ApiState, bus: Bus, given: str) -> None:
    """Pass when `given` is the admin secret; 403 when it is not; 429 past a budget."""
    window = state.api.rate_limit_window_seconds
    ip = client_ip_hash(request, state)
    async with fail_closed("admin rate limiter"):
        limiter = RateLimiter(await bus.kv(events.RATE_LIMIT_BUCKET))
        held: list[tuple[str, str, RateDecision]] = []
        try:
            for scope, subject, limit in (
                (PER_IP_SCOPE, ip, state.api.admin_failures_per_ip),
                (GLOBAL_SCOPE, GLOBAL_SUBJECT, state.api.admin_failures_global),
            ):
                decision = await limiter.hit(scope, subject, limit, window)
                if not decision.allowed:
                    await _give_back(limiter, held)
                    raise too_many(decision.retry_after_s)
                held.append((scope, subject, decision))
        except RateLimitContention as exc:
            await _give_back(limiter, held)
            raise too_many(1) from exc
        if not hmac.compare_digest(given.encode(), state.secrets.admin_secret.encode()):
            raise ApiError(403, "bad_admin_secret", "the admin secret is wrong")
        await _give_back(limiter, held)


async def _give_back(limiter: RateLimiter, held: list[tuple[str, str, RateDecision]]) -> None:
    for scope, subject, decision in held:
        # Too contended: the place stays taken until the window ends, the safe side.
        with contextlib.suppress(RateLimitContention):
            await limiter.release(scope, subject, decision)


async def require_admin(request: Request, state: ApiState, bus: Bus) -> None:
    given = bearer(request)
    if not given:
        raise ApiError(401, "admin_required", "admin routes need Authorization: Bearer <secret>")
    await check_secret(request, state, bus, given)
