"""Webhook endpoints and delivery records, in NATS key-value buckets.

An endpoint (bucket `webhooks`, key = its id) holds its URL, the events it takes, its
signing secret (the worker signs with it; the API shows it once) and whether it is
disabled. A delivery record (bucket `webhook_deliveries`, key = `{endpointId}.{deliveryId}`)
is what the console shows: written by the worker at every attempt.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_MARKER_REASON, KV_OP, KeyValue

from drop import events
from drop.adapters.nats_bus import Bus

LIST_TIMEOUT_S = 5.0
FETCH_BATCH = 256


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _all(bus: Bus, bucket: str, pattern: str) -> list[dict[str, Any]]:
    """Every live value under `pattern` (a key or wildcard), read once.

    Not `KeyValue.watch`: nats-py marks the end of a watch's initial values by comparing
    the consumer's pending count with what its callback has seen so far, and can mark it
    before the values it has already been sent (a list then missed a webhook just added).
    An ephemeral pull consumer delivers nothing until asked, so its pending count when
    created is exactly how many values there are."""
    sub = await bus.js.pull_subscribe(
        f"$KV.{bucket}.{pattern}",
        stream=f"KV_{bucket}",
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            inactive_threshold=LIST_TIMEOUT_S * 2,
        ),
    )
    found: list[dict[str, Any]] = []
    try:
        left = (await sub.consumer_info()).num_pending or 0
        async with asyncio.timeout(LIST_TIMEOUT_S):
            while left > 0:
                msgs = await sub.fetch(min(left, FETCH_BATCH), timeout=LIST_TIMEOUT_S)
                left -= len(msgs)
                found += [json.loads(m.data) for m in msgs if _is_value(m.headers, m.data)]
    finally:
        await sub.unsubscribe()
    return found


def _is_value(headers: dict[str, str] | None, data: bytes) -> bool:
    """A put with a value (not a delete, a purge or a server's expiry marker)."""
    return bool(data) and not (headers and (KV_OP in headers or KV_MARKER_REASON in headers))


class WebhookStore:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def _endpoints(self) -> KeyValue:
        return await self.bus.kv(events.WEBHOOKS_BUCKET)

    async def _deliveries(self) -> KeyValue:
        return await self.bus.kv(events.WEBHOOK_DELIVERIES_BUCKET)

    async def endpoints(self) -> list[dict[str, Any]]:
        found = await _all(self.bus, events.WEBHOOKS_BUCKET, ">")
        return sorted(found, key=lambda e: (int(e["createdAt"]), str(e["id"])))

    async def endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        found = await self.bus.get_json(events.WEBHOOKS_BUCKET, endpoint_id)
        return dict(found) if found else None

    async def put_endpoint(self, endpoint: dict[str, Any]) -> None:
        await (await self._endpoints()).put(str(endpoint["id"]), _encode(endpoint))

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        kv = await self._endpoints()
        try:
            await kv.get(endpoint_id)
        except KeyNotFoundError:
            return False
        await kv.delete(endpoint_id)
        return True

    async def set_disabled(self, endpoint_id: str, reason: str | None, at_ms: int) -> None:
        """Disable (with `reason`) or enable (None) an endpoint, if it still exists: a
        compare-and-set, so an endpoint removed meanwhile is never written back."""
        kv = await self._endpoints()
        while True:
            try:
                entry = await kv.get(endpoint_id)
            except KeyNotFoundError:
                return
            if not entry.value:
                return
            endpoint = json.loads(entry.value)
            endpoint.update(
                disabled=reason is not None,
                disabledReason=reason,
                disabledAt=at_ms if reason is not None else None,
            )
            try:
                await kv.update(endpoint_id, _encode(endpoint), last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue  # changed meanwhile: look again

    async def deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        found = await _all(self.bus, events.WEBHOOK_DELIVERIES_BUCKET, f"{endpoint_id}.*")
        return sorted(found, key=lambda d: -int(d.get("createdAt", 0)))

    async def delivery(self, endpoint_id: str, delivery_id: str) -> dict[str, Any] | None:
        found = await self.bus.get_json(
            events.WEBHOOK_DELIVERIES_BUCKET, f"{endpoint_id}.{delivery_id}"
        )
        return dict(found) if found else None

    async def put_delivery(self, record: dict[str, Any]) -> None:
        key = f"{record['endpointId']}.{record['id']}"
        await (await self._deliveries()).put(key, _encode(record))


def public(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the admin API lists it: everything but its secret."""
    return {k: v for k, v in endpoint.items() if k != "secret"}
