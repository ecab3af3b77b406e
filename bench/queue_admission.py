"""Benchmark the waiting room: 5,000 joins, time until all are admitted, join latency.

Run: ``.venv/bin/python -m bench.queue_admission [--joins 5000] [--rate 20] [--cap 50]``.

Starts its own nats-server, restate-server, worker and API on free ports in a temporary
directory (rate limits off, queue on), creates a drop, then:

- joins the queue ``--joins`` times through ``POST /api/queue/{dropId}/join``, ``--clients``
  at a time, each join from its own (forwarded) IP and device fingerprint;
- plays the admitted users: on every ``queue_ready`` event it spends the token
  (``QueueAdmission.useTokens``, as a registration batch does: the tokens that became
  ready while the previous call was in flight go together), so the ``--cap`` ready slots
  keep turning over as in a real drop;
- measures the time from the first join until the last admission and compares it with
  the baseline of the same run, the ideal ``joins / rate`` seconds (goal: within 5%).

Join latency is compared with the latency of a read of the same object (``getQueueStats``,
a shared handler) measured under the same client concurrency just before the joins.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from devtools import devstack
from devtools.devstack import Proc
from drop import durable
from drop.adapters import nats_bus
from drop.adapters.restate_ingress import ingress_path

ADMIN_SECRET = "bench-admin-secret"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class BenchStack:
    """nats, restate, worker and api on free ports under `root`."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.ports = {name: devstack.free_port() for name in ("nats", "mon", "in", "adm", "node")}
        self.ports |= {"worker": devstack.free_port(), "api": devstack.free_port()}
        self.auth = devstack.InternalAuth.create(root / "auth")
        self.env = {
            "NATS_URL": f"nats://127.0.0.1:{self.ports['nats']}",
            "RESTATE_INGRESS_URL": self.url("in"),
            "RESTATE_ADMIN_URL": self.url("adm"),
            "DROP_ENV": "test",
            "ADMIN_SECRET": ADMIN_SECRET,
            "PURCHASE_TOKEN_SECRET": "bench-purchase-secret",
            "IP_HASH_SALT": "bench-salt",
            "LOG_LEVEL": "WARNING",
            **self.auth.app_env(),
            **env,
        }
        self.procs: dict[str, Proc] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        p = self.ports
        self.procs["nats"] = devstack.nats_proc(
            p["nats"], p["mon"], self.root / "nats", self.root / "nats.log", self.auth
        ).start()
        self.procs["restate"] = devstack.restate_proc(
            p["in"],
            p["adm"],
            p["node"],
            self.root / "restate",
            self.root / "restate.log",
            self.auth,
        ).start()
        devstack.wait_nats(p["mon"])
        devstack.wait_restate(p["in"], p["adm"])
        for app in ("worker", "api"):
            log = self.root / f"{app}.log"
            self.procs[app] = devstack.app_proc(app, p[app], self.env, log).start()
            devstack.wait_http(f"{self.url(app)}/health", app)
            if app == "worker":
                devstack.register_worker(p["adm"], self.url("worker"))

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


async def read_latency(
    ingress: httpx.AsyncClient, drop_id: str, n: int, clients: int
) -> list[float]:
    """Baseline: a read of the same object at the same concurrency."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(clients)

    async def one() -> None:
        async with gate:
            t = time.perf_counter()
            r = await ingress.post(ingress_path(durable.QUEUE_STATS, drop_id))
            latencies.append(time.perf_counter() - t)
            r.raise_for_status()

    await asyncio.gather(*(one() for _ in range(n)))
    return latencies


async def run(args: argparse.Namespace, stack: BenchStack) -> dict[str, Any]:
    drop_id = f"bench-{random.randrange(1 << 30):x}"
    bus = await nats_bus.connect(
        stack.env["NATS_URL"],
        "bench",
        user=stack.auth.nats_user,
        password=stack.auth.nats_password,
    )
    api = httpx.AsyncClient(
        base_url=stack.url("api"),
        timeout=120,
        limits=httpx.Limits(
            max_connections=args.clients * 2, max_keepalive_connections=args.clients
        ),
    )
    ingress = httpx.AsyncClient(base_url=stack.url("in"), timeout=120)
    now = int(time.time() * 1000)
    r = await api.post(
        "/api/drops",
        json={
            "dropId": drop_id,
            "inventory": 100,
            "registrationStart": now,
            "registrationEnd": now + 3_600_000,
            "purchaseWindow": 600,
        },
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
    )
    r.raise_for_status()
    baseline = await read_latency(ingress, drop_id, 1000, args.clients)

    ready_at: dict[str, float] = {}
    everyone_in = asyncio.Event()
    to_spend: list[str] = []
    spender: asyncio.Task[None] | None = None

    async def spend() -> None:
        """Spend ready tokens as registrations do: many in one `useTokens` call, the next
        call taking whatever became ready while the last was in flight."""
        while to_spend:
            batch = to_spend[:500]
            del to_spend[:500]
            uses = [{"token": t, "userId": t[:24]} for t in batch]
            answer = await ingress.post(
                ingress_path(durable.QUEUE_USE_TOKENS, drop_id), json={"uses": uses}
            )
            answer.raise_for_status()

    async def on_event(msg: Any) -> None:
        nonlocal spender
        event = json.loads(msg.data)
        if event["type"] == "queue_ready" and event["data"]["token"] not in ready_at:
            ready_at[event["data"]["token"]] = time.perf_counter()
            if len(ready_at) == args.joins:
                everyone_in.set()
            if args.use_tokens:
                to_spend.append(event["data"]["token"])
                if spender is None or spender.done():
                    spender = asyncio.create_task(spend())

    sub = await bus.nc.subscribe(f"queue.{drop_id}.>", cb=on_event)
    join_latency: list[float] = []
    gate = asyncio.Semaphore(args.clients)

    async def join(i: int) -> None:
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        async with gate:
            t = time.perf_counter()
            r = await api.post(
                f"/api/queue/{drop_id}/join",
                json={"fingerprint": f"device-{i}"},
                headers={"X-Forwarded-For": ip},
            )
            join_latency.append(time.perf_counter() - t)
            r.raise_for_status()

    t0 = time.perf_counter()
    await asyncio.gather(*(join(i) for i in range(args.joins)))
    joins_done = time.perf_counter() - t0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone_in.wait(), args.joins / args.rate * 3 + 60)
    await sub.unsubscribe()
    if spender is not None:
        await asyncio.gather(spender, return_exceptions=True)
    stats = (await ingress.post(ingress_path(durable.QUEUE_STATS, drop_id))).json()
    await api.aclose()
    await ingress.aclose()
    await bus.close()
    times = sorted(ready_at.values())
    return {
        "admitted": len(ready_at),
        "all_admitted_s": (times[-1] - t0) if times else float("nan"),
        "admission_span_s": (times[-1] - times[0]) if times else float("nan"),
        "joins_done_s": joins_done,
        "join": join_latency,
        "baseline": baseline,
        "stats": stats,
    }


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    n, rate = args.joins, args.rate
    ideal = n / rate
    took = result["all_admitted_s"]
    join, base = result["join"], result["baseline"]
    print(f"{n} joins, rate {rate}/s, {args.cap} ready slots, {args.clients} clients")
    print(f"  admitted                     {result['admitted']} / {n}")
    print(f"  first join → last admission  {took:8.2f} s")
    print(f"  ideal (joins / rate)         {ideal:8.2f} s   ratio x{took / ideal:.3f}")
    print(f"  first → last admission       {result['admission_span_s']:8.2f} s")
    print(
        f"  all joins answered after     {result['joins_done_s']:8.2f} s "
        f"({n / result['joins_done_s']:.0f} joins/s)"
    )
    print(
        f"  join latency    p50 {statistics.median(join) * 1000:7.1f} ms   "
        f"p99 {percentile(join, 99) * 1000:7.1f} ms   max {max(join) * 1000:7.1f} ms"
    )
    print(
        f"  baseline read   p50 {statistics.median(base) * 1000:7.1f} ms   "
        f"p99 {percentile(base, 99) * 1000:7.1f} ms   (getQueueStats, same concurrency)"
    )
    print(f"  join p99 / read p99          x{percentile(join, 99) / percentile(base, 99):.1f}")
    print(f"  final stats                  {result['stats']}")
    within = abs(took / ideal - 1) <= 0.05 and result["admitted"] == n
    print(f"goal (all admitted within 5% of {ideal:.0f} s): {'met' if within else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--joins", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0, help="QUEUE_ADMISSION_RATE")
    parser.add_argument("--cap", type=int, default=50, help="QUEUE_MAX_CONCURRENT")
    parser.add_argument("--clients", type=int, default=50, help="joins in flight at once")
    parser.add_argument(
        "--no-use", dest="use_tokens", action="store_false", help="never spend ready tokens"
    )
    args = parser.parse_args()
    env = {
        "QUEUE_ENABLED": "true",
        "SKIP_RATE_LIMIT": "true",
        "QUEUE_ADMISSION_RATE": str(args.rate),
        "QUEUE_MAX_CONCURRENT": str(args.cap),
        "QUEUE_READY_WINDOW": "30",
        "QUEUE_MAX_AGE": "60",
    }
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        stack = BenchStack(Path(tmp), env)
        try:
            stack.start()
            result = asyncio.run(run(args, stack))
        finally:
            stack.stop()
    report(args, result)


if __name__ == "__main__":
    main()
