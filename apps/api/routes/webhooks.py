"""Webhook endpoints (admin): add one (its signing secret shown once), list, remove, read
its deliveries and retry one. Deliveries themselves are the worker's (`WebhookDelivery`)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from apps.api.deps import Admin, NatsBus, State
from apps.api.errors import ApiError, refusals
from apps.api.guards import fail_closed
from drop import durable
from drop.webhooks import addresses, catalog
from drop.webhooks.signing import new_secret
from drop.webhooks.store import WebhookStore, public

router = APIRouter(prefix="/api/webhooks", dependencies=[Admin])

EndpointId = Annotated[str, Path(pattern=r"^ep_[0-9a-f]{24}$", description="the endpoint's id")]
DeliveryId = Annotated[
    str, Path(pattern=r"^msg_[0-9a-f]{32}$", description="the delivery's webhook-id")
]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1, max_length=addresses.MAX_URL_LENGTH)
    events: list[str] = Field(min_length=1, max_length=len(catalog.EVENT_TYPES))


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _endpoint(store: WebhookStore, endpoint_id: str) -> dict[str, Any]:
    async with fail_closed("webhook store"):
        found = await store.endpoint(endpoint_id)
    if found is None:
        raise ApiError(404, "webhook_not_found", f"no webhook endpoint {endpoint_id}")
    return found


@router.post("", status_code=201, responses=refusals(400, 401, 403))
async def add_webhook(body: WebhookIn, state: State, bus: NatsBus) -> dict[str, Any]:
    """Add an endpoint for `events`; the answer's `secret` (whsec_...) is shown only here."""
    unknown = sorted(set(body.events) - set(catalog.EVENT_TYPES))
    if unknown:
        known = ", ".join(catalog.EVENT_TYPES)
        raise ApiError(
            400, "unknown_event", f"unknown event names: {', '.join(unknown)} (known: {known})"
        )
    try:
        await addresses.check_url(body.url, state.webhooks.webhook_allow_private_urls)
    except addresses.AddressRefused as exc:
        raise ApiError(400, "webhook_url_refused", f"url refused: {exc}") from exc
    endpoint = {
        "id": f"ep_{secrets.token_hex(12)}",
        "url": body.url,
        "events": [e for e in catalog.EVENT_TYPES if e in body.events],
        "secret": new_secret(),
        "createdAt": _now_ms(),
        "disabled": False,
        "disabledReason": None,
        "disabledAt": None,
    }
    async with fail_closed("webhook store"):
        await WebhookStore(bus).put_endpoint(endpoint)
    return {**public(endpoint), "secret": endpoint["secret"]}


@router.get("", responses=refusals(401, 403))
async def list_webhooks(bus: NatsBus) -> dict[str, Any]:
    """Every endpoint, without its secret."""
    async with fail_closed("webhook store"):
        found = await WebhookStore(bus).endpoints()
    return {"webhooks": [public(e) for e in found]}


@router.delete("/{endpointId}", responses=refusals(401, 403, 404))
async def delete_webhook(endpointId: EndpointId, bus: NatsBus) -> dict[str, Any]:
    """Remove an endpoint: nothing more is sent to it, retries pending stop."""
    async with fail_closed("webhook store"):
        deleted = await WebhookStore(bus).delete_endpoint(endpointId)
    if not deleted:
        raise ApiError(404, "webhook_not_found", f"no webhook endpoint {endpointId}")
    return {"id": endpointId, "deleted": True}


@router.get("/{endpointId}/deliveries", responses=refusals(401, 403, 404))
async def deliveries(endpointId: EndpointId, bus: NatsBus) -> dict[str, Any]:
    """The endpoint's deliveries, newest first: attempts, status, last response code, times."""
    store = WebhookStore(bus)
    await _endpoint(store, endpointId)
    async with fail_closed("webhook store"):
        found = await store.deliveries(endpointId)
    return {"deliveries": found}


@router.post(
    "/{endpointId}/deliveries/{deliveryId}/retry",
    status_code=202,
    responses=refusals(401, 403, 404, 409),
)
async def retry(
    endpointId: EndpointId, deliveryId: DeliveryId, state: State, bus: NatsBus
) -> dict[str, Any]:
    """Send a delivery again with the same webhook-id (a success re-enables a disabled
    endpoint); 409 while it is still being retried."""
    store = WebhookStore(bus)
    await _endpoint(store, endpointId)
    async with fail_closed("webhook store"):
        record = await store.delivery(endpointId, deliveryId)
    if record is None:
        raise ApiError(404, "delivery_not_found", f"no delivery {deliveryId} for {endpointId}")
    if record.get("status") == "pending":
        raise ApiError(
            409, "delivery_pending", "this delivery is still being retried; wait for it to end"
        )
    await state.ingress.send(durable.WEBHOOK_RETRY, None, key=deliveryId)
    return {"id": deliveryId, "endpointId": endpointId, "status": "pending"}
