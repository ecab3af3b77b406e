"""Alarms for the operator console: invocations stuck on a drop (failing and retried, or
paused after failing: the drop's later calls wait behind them), drops whose invariant
watch halted their sales (both read from Restate's admin SQL API when asked), and webhook
endpoints disabled after failing too long (from the `webhooks` bucket). Each reading is
logged when anything is wrong and sets `drop_alarms` (by kind) for Prometheus."""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Gauge

from drop.adapters import restate_admin
from drop.webhooks.store import WebhookStore

log = logging.getLogger("api.alarms")

ALARMS = Gauge("drop_alarms", "Drop alarms at the last reading, by kind", ["kind"])


def _drop_of(service: str, key: str) -> str:
    return key.partition(":")[0] if service == "Participant" else key


def _stuck(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "stuck",
        "dropId": _drop_of(str(row["target_service_name"]), str(row["target_service_key"])),
        "invocationId": row["id"],
        "target": row["target"],
        "status": row["status"],
        "attempts": row.get("retry_count"),
        "reason": str(row.get("last_failure") or "")[:500],
    }


def _broken(row: dict[str, Any]) -> dict[str, Any]:
    try:
        alarm = json.loads(row["value_utf8"])
    except (TypeError, ValueError):
        alarm = {}
    return {
        "kind": "invariant",
        "dropId": row["service_key"],
        "reason": str(alarm.get("reason", "the drop recorded a broken invariant")),
        "when": alarm.get("when"),
        "atMs": alarm.get("atMs"),
    }


def _disabled(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "webhook",
        "dropId": "",
        "endpointId": endpoint["id"],
        "url": endpoint["url"],
        "reason": str(endpoint.get("disabledReason") or "disabled after failing"),
        "atMs": endpoint.get("disabledAt"),
    }


async def read(admin_url: str, webhooks: WebhookStore) -> list[dict[str, Any]]:
    """Every alarm now (AdminUnavailableError when Restate's admin API cannot answer)."""
    stuck = [_stuck(r) for r in await restate_admin.stuck_invocations(admin_url)]
    broken = [_broken(r) for r in await restate_admin.broken_drops(admin_url)]
    disabled = [_disabled(e) for e in await webhooks.endpoints() if e.get("disabled")]
    ALARMS.labels("stuck").set(len(stuck))
    ALARMS.labels("invariant").set(len(broken))
    ALARMS.labels("webhook").set(len(disabled))
    for alarm in (*broken, *stuck, *disabled):
        log.error(
            "ALARM %s on drop %s: %s %s",
            alarm["kind"],
            alarm["dropId"],
            alarm.get("target", ""),
            alarm["reason"],
        )
    return [*broken, *stuck, *disabled]
