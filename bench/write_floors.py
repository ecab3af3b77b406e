"""Floors of the write path for bench/crowd.py: which step stops joins and registrations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench import crowd_stack, wrk_run
from drop import durable
from drop.adapters.restate_ingress import ingress_path
from drop.contracts import QueueConfig


async def durable_batches(
    ingress_url: str, path: str, make: Any, total: int, batch: int, lanes: int
) -> tuple[float, list[Any]]:
    """Items/s through the durable layer alone: `lanes` callers (one per API process), each
    sending batches of `batch` one after another, as the API's group commit does; and
    every item's result."""
    made = iter(range(0, total, batch))
    results: list[Any] = []
    async with httpx.AsyncClient(base_url=ingress_url, timeout=300) as ingress:

        async def lane() -> None:
            for first in made:
                r = await ingress.post(path, json=make(first, min(total, first + batch)))
                r.raise_for_status()
                results.extend(r.json()["results"])

        start = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(lanes)))
        return total / (time.perf_counter() - start), results


async def anatomy(stack: crowd_stack.Running, api: str, tag: str, seconds: float) -> None:
    """Floors of the write path, to say which one stops joins and registrations: a routed
    read, a routed call that passes the rate limiter (NATS KV compare-and-set) and writes
    to KV, and the durable batch handlers called directly through the ingress."""
    print("floors of the write path:", flush=True)
    routed = wrk_run.run(
        "GET /api/drop/{id}/status (routed read, c=50)",
        f"{api}/api/drop/regs-{tag}/status",
        seconds=seconds,
    )
    print("  " + routed.line(), flush=True)
    challenge = wrk_run.run(
        "GET /api/pow/challenge (rate limit + KV, c=50)",
        f"{api}/api/pow/challenge",
        script=wrk_run.UNIQUE_IP_GET,
        seconds=seconds,
    )
    print("  " + challenge.line(), flush=True)
    config = QueueConfig(
        rate=2000, max_concurrent=100_000, ready_window_s=1800, max_age_s=3600
    ).wire()
    crowd_stack.create_drop(api, f"direct-{tag}")

    def joins(first: int, last: int) -> dict[str, Any]:
        people = [
            {"fingerprintHash": f"{i:032x}", "ipHash": f"{(1 << 120) + i:032x}"}
            for i in range(first, last)
        ]
        return {"joins": people, "config": config}

    def entries(first: int, last: int) -> dict[str, Any]:
        return {"entries": [{"userId": f"d{i}", "tickets": 1 + i % 10} for i in range(first, last)]}

    direct, base = f"direct-{tag}", crowd_stack.ingress(stack)
    join_batch = ingress_path(durable.QUEUE_JOIN_BATCH, direct)
    rate, joined = await durable_batches(base, join_batch, joins, 4000, 200, 2)
    print(f"  {'QueueAdmission.joinBatch x200, 2 callers':<44} {rate:9.1f}/s", flush=True)
    tokens = [r["ok"]["token"] for r in joined if "ok" in r]
    await asyncio.sleep(len(tokens) / 2000 + 2)  # admitted at 2,000/s

    def uses(first: int, last: int) -> dict[str, Any]:
        return {"uses": [{"token": tokens[i], "userId": f"d{i}"} for i in range(first, last)]}

    use_tokens = ingress_path(durable.QUEUE_USE_TOKENS, direct)
    rate, used = await durable_batches(base, use_tokens, uses, len(tokens), 200, 2)
    refused = sum(1 for r in used if "error" in r)
    print(
        f"  {'QueueAdmission.useTokens x200, 2 callers':<44} {rate:9.1f}/s"
        + (f"  ({refused} refused)" if refused else ""),
        flush=True,
    )
    register_batch = ingress_path(durable.DROP_REGISTER_BATCH, direct)
    rate, _ = await durable_batches(base, register_batch, entries, 4000, 200, 2)
    print(f"  {'Drop.registerBatch x200, 2 callers (no tokens)':<44} {rate:9.1f}/s", flush=True)
