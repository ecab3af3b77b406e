"""Alarms for the operator console: invocations stuck on a drop (failing and retried, or
paused after failing: the drop's later calls wait behind them) and drops whose invariant
watch halted their sales. Read from Restate's admin SQL API when asked; each reading is
logged when anything is wrong and sets `drop_alarms` (by kind) for Prometheus."""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Gauge

from drop.adapters import restate_admin

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


async def read(admin_url: str) -> list[dict[str, Any]]:
    """Every alarm now (AdminUnavailableError when Restate's admin API cannot answer)."""
    stuck = [_stuck(r) for r in await restate_admin.stuck_invocations(admin_url)]
    broken = [_broken(r) for r in await restate_admin.broken_drops(admin_url)]
    ALARMS.labels("stuck").set(len(stuck))
    ALARMS.labels("invariant").set(len(broken))
    for alarm in (*broken, *stuck):
        log.error(
            "ALARM %s on drop %s: %s %s",
            alarm["kind"],
            alarm["dropId"],
            alarm.get("target", ""),
            alarm["reason"],
        )
    return [*broken, *stuck]
