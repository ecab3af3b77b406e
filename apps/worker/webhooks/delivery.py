"""WebhookDelivery (key = the webhook-id): one event for one endpoint, delivered at least
once.

Each attempt is one journaled step that reads the endpoint, signs the body with the
attempt's timestamp and posts it; after a failure the object calls itself again on a
durable timer (`attempt`), the gap doubling up to WEBHOOK_MAX_BACKOFF_SECONDS. Past
WEBHOOK_RETRY_FOR_SECONDS the delivery gives up and the endpoint is disabled (an alarm:
`GET /api/admin/alarms`). A crash anywhere repeats at most the attempt in flight, with the
same webhook-id, which is what receivers deduplicate on. Every attempt updates the
delivery's record in the `webhook_deliveries` bucket, which the console reads.
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
from drop.durable import DROP_GET_ORDER, WEBHOOK_ATTEMPT, DeliveryIn, ForUser, NextAttempt
from drop.webhooks import signing

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
    await _try(ctx, req, NextAttempt(number=1, nth=1, started_ms=0))


@handler(webhook_delivery)
async def attempt(ctx: restate.ObjectContext, req: NextAttempt) -> None:
    """The next attempt, on its timer; one overtaken by an operator's retry ends."""
    raw = await ctx.get(REQUEST, type_hint=dict)
    if raw is None or (await ctx.get(ATTEMPTS, type_hint=int) or 0) != req.number - 1:
        return
    await _try(ctx, DeliveryIn.model_validate(raw), req)


@handler(webhook_delivery)
async def retry(ctx: restate.ObjectContext) -> None:
    """An operator's retry: the same body and webhook-id, even to a disabled endpoint
    (whose success enables it again), with a retry window of its own."""
    raw = await ctx.get(REQUEST, type_hint=dict)
    if raw is None:
        return
    made = await ctx.get(ATTEMPTS, type_hint=int) or 0
    await _try(
        ctx,
        DeliveryIn.model_validate(raw),
        NextAttempt(number=made + 1, nth=1, started_ms=0, manual=True),
    )


async def _with_order(ctx: restate.ObjectContext, req: DeliveryIn) -> DeliveryIn:
    """The order's id and time, read once from the drop: every attempt sends the same body."""
    data = dict(req.body["data"])
    order = await calls.call(
        ctx, DROP_GET_ORDER, ForUser(user_id=str(data["userId"])), key=str(data["dropId"])
    )
    data.update(orderId=order.order_id, purchasedAt=order.at)
    return req.model_copy(update={"body": {**req.body, "data": data}})


async def _try(ctx: restate.ObjectContext, req: DeliveryIn, this: NextAttempt) -> None:
    """One attempt; after a failure the next is a delayed call to this object, so each
    invocation's journal stays a few entries long however long the endpoint is down."""
    done = await ctx.run_typed(
        f"attempt {this.number}", _attempt, restate.RunOptions(), ctx.key(), req, this
    )
    ctx.set(ATTEMPTS, this.number)
    if done.status != "pending":
        return
    after = NextAttempt(
        number=this.number + 1,
        nth=this.nth + 1,
        started_ms=this.started_ms or done.at_ms,
        manual=this.manual,
    )
    calls.send(
        ctx, WEBHOOK_ATTEMPT, after, key=ctx.key(), delay=timedelta(milliseconds=done.next_in_ms)
    )


async def _attempt(delivery_id: str, req: DeliveryIn, this: NextAttempt) -> Attempt:
    rt = current()
    now = effects.wall_clock_ms()
    endpoint = await rt.store.endpoint(req.endpoint_id)
    if endpoint is None:
        done = Attempt(status="cancelled", error="the endpoint was removed", at_ms=now)
    elif endpoint.get("disabled") and not this.manual:
        done = Attempt(status="cancelled", error="the endpoint is disabled", at_ms=now)
    else:
        done = await _post(delivery_id, req, endpoint, this, now)
    await rt.store.put_delivery(_record(delivery_id, req, this.number, done))
    ATTEMPTS_MADE.labels(done.status).inc()
    if endpoint is None:
        return done
    if done.status == "failed":
        reason = f"gave up on {req.type} after {this.number} attempts: {done.error}"
        log.error("ALARM webhook endpoint %s disabled: %s", req.endpoint_id, reason)
        await rt.store.set_disabled(req.endpoint_id, reason, now)
    elif done.status == "delivered" and endpoint.get("disabled"):
        await rt.store.set_disabled(req.endpoint_id, None, now)
    return done


async def _post(
    delivery_id: str,
    req: DeliveryIn,
    endpoint: dict[str, Any],
    this: NextAttempt,
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
    if this.started_ms and now - this.started_ms >= settings.webhook_retry_for_seconds * 1000:
        return Attempt(status="failed", code=answer.status, error=error, at_ms=now)
    cap_ms = int(settings.webhook_max_backoff_seconds * 1000)
    next_in = min(cap_ms, FIRST_BACKOFF_MS << min(this.nth - 1, 30))
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
