"""Registration throughput and latency through the API, against Restate's own floor.

Starts a private stack (nats-server, restate-server, worker, api) on free ports and measures,
in the same run:
  1. a trivial Restate handler round trip at concurrency 50 (the runtime's floor here);
  2. API registrations at concurrency 50 (registrations/s, p50/p99);
  3. per-registration latency on a drop with 1,000 vs 20,000 participants;
  4. GET /api/drop/{id}/status on the 20,000-participant drop vs the API's /health.

    .venv/bin/python -m bench.registration [--big 20000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from drop import durable
from drop.adapters.restate_ingress import ingress_path
from tests.support.stack import Stack

ADMIN = {"Authorization": "Bearer test-admin-secret"}

PING = ingress_path(durable.DIAG_PING)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    n: int, concurrency: int, call: Callable[[int], Awaitable[httpx.Response]]
) -> tuple[float, list[float]]:
    """Run `call(i)` for i in range(n) with `concurrency` in flight; rate/s and latencies ms."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def lane() -> None:
        for i in counter:
            t0 = time.perf_counter()
            r = await call(i)
            latencies.append((time.perf_counter() - t0) * 1000)
            if r.status_code >= 400:
                raise RuntimeError(f"call {i} failed: {r.status_code} {r.text}")

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - start), latencies


def line(name: str, rate: float, lat: list[float]) -> str:
    return (
        f"{name:<34} {rate:8.1f}/s  p50 {statistics.median(lat):7.1f} ms  "
        f"p99 {pct(lat, 0.99):7.1f} ms"
    )


async def create(api: httpx.AsyncClient, drop_id: str, inventory: int = 100) -> None:
    now = int(time.time() * 1000)
    body = {
        "dropId": drop_id,
        "inventory": inventory,
        "registrationStart": now,
        "registrationEnd": now + 3_600_000,
        "purchaseWindow": 600,
    }
    r = await api.post("/api/drops", json=body, headers=ADMIN)
    r.raise_for_status()


async def fill(
    api: httpx.AsyncClient, drop_id: str, count: int, concurrency: int
) -> tuple[float, list[float]]:
    return await load(
        count,
        concurrency,
        lambda i: api.post(
            f"/api/drop/{drop_id}/register",
            json={"userId": f"{drop_id}-u{i}", "tickets": 1 + i % 10},
        ),
    )


async def main(big: int, concurrency: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-reg-"))
    stack = Stack(root)
    try:
        stack.start_servers()
        stack.start_app("worker")
        api_url = stack.start_app("api")
        limits = httpx.Limits(max_connections=concurrency * 2)
        async with (
            httpx.AsyncClient(base_url=stack.ingress_url, timeout=60, limits=limits) as ingress,
            httpx.AsyncClient(base_url=api_url, timeout=60, limits=limits) as api,
        ):
            await load(200, concurrency, lambda i: ingress.post(PING))  # warm up
            floor_rate, floor_lat = await load(2000, concurrency, lambda i: ingress.post(PING))
            await create(api, "warm")
            await fill(api, "warm", 200, concurrency)
            await create(api, "reg")
            reg_rate, reg_lat = await fill(api, "reg", 2000, concurrency)

            await create(api, "small")
            await fill(api, "small", 1000, concurrency)
            _, small_lat = await load(
                200,
                1,
                lambda i: api.post(
                    "/api/drop/small/register", json={"userId": f"small-x{i}", "tickets": 2}
                ),
            )
            await create(api, "big")
            print(f"filling a drop with {big} participants ...", flush=True)
            await fill(api, "big", big, concurrency)
            _, big_lat = await load(
                200,
                1,
                lambda i: api.post(
                    "/api/drop/big/register", json={"userId": f"big-x{i}", "tickets": 2}
                ),
            )

            health_rate, health_lat = await load(3000, concurrency, lambda i: api.get("/health"))
            status_rate, status_lat = await load(
                3000, concurrency, lambda i: api.get("/api/drop/big/status")
            )

        print()
        print(line("restate trivial round trip (c=50)", floor_rate, floor_lat))
        print(line("API registration (c=50)", reg_rate, reg_lat))
        print(f"  ratio registration / floor       {reg_rate / floor_rate:8.2f}x  (goal >= 0.5x)")
        print(
            line("register @1,000 participants (c=1)", 1000 / statistics.mean(small_lat), small_lat)
        )
        print(
            line(f"register @{big:,} participants (c=1)", 1000 / statistics.mean(big_lat), big_lat)
        )
        growth = statistics.median(big_lat) / statistics.median(small_lat)
        print(f"  latency ratio big / small (p50)   {growth:8.2f}x  (goal <= 1.25x)")
        print(line("GET /health (c=50)", health_rate, health_lat))
        print(line(f"GET status @{big:,} (c=50)", status_rate, status_lat))
        print(
            f"  ratio status / health            {status_rate / health_rate:8.2f}x  (goal >= 0.5x)"
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.big, args.concurrency))
