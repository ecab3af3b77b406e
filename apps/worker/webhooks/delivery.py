"""WebhookDelivery (key = the webhook-id): one event for one endpoint, delivered at least
once.

Each attempt is one journaled step that reads the endpoint, signs the body with the
attempt's timestamp and posts it; between failed attempts the object sleeps on a durable
timer, the gap doubling up to WEBHOOK_MAX_BACKOFF_SECONDS. Past WEBHOOK_RETRY_FOR_SECONDS
the delivery gives up and the endpoint is disabled (an alarm: `GET /api/admin/alarms`). A
crash anywhere repeats at most the attempt in flight, with the same webhook-id, which is
what receivers deduplicate on. Every attempt updates the delivery's record in the
`webhook_deliveries` bucket, which the console reads.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Literal

import restate
from prometheus_client import Counter
from pydantic import BaseModel

from apps.worker import calls, effects
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.typed import handler
from apps.worker.webhooks.runtime import current
from drop.durable import ForUser
from drop.webhooks import signing
from drop.webhooks.targets import DROP_GET_ORDER, DeliveryIn

log = logging.getLogger("worker.webhooks")

# Counted inside the journaled attempt, so a replay never counts it again.
ATTEMPTS_MADE = Counter(
    "webhook_attempts_total", "Webhook delivery attempts, by what they left it as", ["outcome"]
)

webhook_delivery = restate.VirtualObject(
    "WebhookDelivery", invocation_retry_policy=PAUSE_WHEN_STUCK
)

REQUEST = "request"
ATTEMPTS = "attempts"
FIRST_BACKOFF_MS = 1000

Status = Literal["pending", "delivered", "failed", "cancelled"]


class Attempt(BaseModel):
    """What one attempt did (journaled: a replay takes the same path)."""

    status: Status
    code: int | None = None
    error: str = ""
    at_ms: int
    next_in_ms: int = 0


@handler(webhook_delivery)
async def deliver(ctx: restate.ObjectContext, req: DeliveryIn) -> None:
    """The feed's send; a second send of the same webhook-id finds it taken and ends."""
    if await ctx.get(REQUEST, type_hint=dict) is not None:
        return
    if req.type == "order.completed":
        req = await _with_order(ctx, req)
    ctx.set(REQUEST, req.model_dump(mode="json", by_alias=True))
    await _attempts(ctx, req, manual=False)


@handler(webhook_delivery)
async def retry(ctx: restate.ObjectContext) -> None:
    """An operator's retry: the same body and webhook-id, even to a disabled endpoint
    (whose success enables it again)."""
    raw = await ctx.get(REQUEST, type_hint=dict)
    if raw is None:
        return
    await _attempts(ctx, DeliveryIn.model_validate(raw), manual=True)


async def _with_order(ctx: restate.ObjectContext, req: DeliveryIn) -> DeliveryIn:
    """The order's id and time, read once from the drop: every attempt sends the same body."""
    data = dict(req.body["data"])
    order = await calls.call(
        ctx, DROP_GET_ORDER, ForUser(user_id=str(data["userId"])), key=str(data["dropId"])
    )
    data.update(orderId=order.order_id, purchasedAt=order.at)
    return req.model_copy(update={"body": {**req.body, "data": data}})


async def _attempts(ctx: restate.ObjectContext, req: DeliveryIn, *, manual: bool) -> None:
    before = await ctx.get(ATTEMPTS, type_hint=int) or 0
    number = before
    # The retry window runs from this run's first attempt (0: this is the first).
    started = 0
    while True:
        number += 1
        done = await ctx.run_typed(
            f"attempt {number}",
            _attempt,
            restate.RunOptions(),
            delivery_id=ctx.key(),
            req=req,
            number=number,
            nth=number - before,
            started_ms=started,
            manual=manual,
        )
        if done.status != "pending":
            ctx.set(ATTEMPTS, number)
            return
        started = started or done.at_ms
        await ctx.sleep(timedelta(milliseconds=done.next_in_ms))


async def _attempt(
    delivery_id: str, req: DeliveryIn, number: int, nth: int, started_ms: int, manual: bool
) -> Attempt:
    """Attempt `number` of the delivery, the `nth` of this run (the backoff counts those)."""
    rt = current()
    now = effects.wall_clock_ms()
    endpoint = await rt.store.endpoint(req.endpoint_id)
    if endpoint is None:
        done = Attempt(status="cancelled", error="the endpoint was removed", at_ms=now)
    elif endpoint.get("disabled") and not manual:
        done = Attempt(status="cancelled", error="the endpoint is disabled", at_ms=now)
    else:
        done = await _post(delivery_id, req, endpoint, nth, started_ms, now)
    await rt.store.put_delivery(_record(delivery_id, req, number, done))
    ATTEMPTS_MADE.labels(done.status).inc()
    if endpoint is None:
        return done
    if done.status == "failed":
        reason = f"gave up on {req.type} after {number} attempts: {done.error}"
        log.error("ALARM webhook endpoint %s disabled: %s", req.endpoint_id, reason)
        await rt.store.set_disabled(req.endpoint_id, reason, now)
    elif done.status == "delivered" and endpoint.get("disabled"):
        await rt.store.set_disabled(req.endpoint_id, None, now)
    return done


async def _post(
    delivery_id: str,
    req: DeliveryIn,
    endpoint: dict[str, Any],
    nth: int,
    started_ms: int,
    now: int,
) -> Attempt:
    rt = current()
    body = json.dumps(req.body, separators=(",", ":")).encode()
    headers = signing.headers(str(endpoint["secret"]), delivery_id, now // 1000, body)
    answer = await rt.poster.post(req.endpoint_id, str(endpoint["url"]), body, headers)
    error = answer.error or ("" if answer.ok else f"answered {answer.status}")
    if answer.ok:
        return Attempt(status="delivered", code=answer.status, at_ms=now)
    settings = rt.settings
    if started_ms and now - started_ms >= settings.webhook_retry_for_seconds * 1000:
        return Attempt(status="failed", code=answer.status, error=error, at_ms=now)
    cap_ms = int(settings.webhook_max_backoff_seconds * 1000)
    next_in = min(cap_ms, FIRST_BACKOFF_MS << min(nth - 1, 30))
    return Attempt(status="pending", code=answer.status, error=error, at_ms=now, next_in_ms=next_in)


def _record(delivery_id: str, req: DeliveryIn, number: int, done: Attempt) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "endpointId": req.endpoint_id,
        "type": req.type,
        "createdAt": req.at_ms,
        "attempts": number,
        "status": done.status,
        "responseCode": done.code,
        "error": done.error,
        "lastAttemptAt": done.at_ms,
        "nextAttemptAt": done.at_ms + done.next_in_ms if done.status == "pending" else None,
        "payload": req.body,
    }
