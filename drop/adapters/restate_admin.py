"""Restate's admin SQL API, read for alarms: invocations stuck on a drop, and broken
invariants a drop has recorded (its `alarm` state key)."""

from __future__ import annotations

from typing import Any

import httpx

# Failing invocations Restate retries (backing-off) and those it gave up on and paused.
STUCK = ("paused", "backing-off")
# Services keyed by a drop id, or by `dropId:userId`.
BY_DROP = ("Drop", "QueueAdmission", "Participant")


class AdminUnavailableError(Exception):
    pass


async def query(admin_url: str, sql: str, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    try:
        async with httpx.AsyncClient(base_url=admin_url, timeout=timeout_s) as client:
            response = await client.post(
                "/query", json={"query": sql}, headers={"accept": "application/json"}
            )
    except httpx.HTTPError as exc:
        raise AdminUnavailableError(f"restate admin unreachable: {exc!r}") from exc
    if not response.is_success:
        raise AdminUnavailableError(f"restate admin answered {response.status_code}")
    return list(response.json().get("rows") or [])


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


async def stuck_invocations(admin_url: str) -> list[dict[str, Any]]:
    """Invocations on drops that fail and are retried, or were paused after failing."""
    return await query(
        admin_url,
        "SELECT id, target, target_service_name, target_service_key, status, retry_count, "
        "last_failure, modified_at FROM sys_invocation "
        f"WHERE status IN ({_listed(STUCK)}) AND target_service_name IN ({_listed(BY_DROP)}) "
        "ORDER BY modified_at",
    )


async def stuck_on(admin_url: str, service: str, key: str) -> list[dict[str, Any]]:
    """Stuck invocations of one object (its later calls wait behind them)."""
    return await query(
        admin_url,
        "SELECT id, target, status, retry_count, last_failure FROM sys_invocation "
        f"WHERE status IN ({_listed(STUCK)}) AND target_service_name = '{service}' "
        f"AND target_service_key = '{key.replace(chr(39), '')}'",
    )


async def broken_drops(admin_url: str) -> list[dict[str, Any]]:
    """Drops whose invariant watch halted their sales: {service_key, value_utf8}."""
    return await query(
        admin_url,
        "SELECT service_key, value_utf8 FROM state WHERE service_name = 'Drop' AND key = 'alarm'",
    )
