"""A crowd takes one drop: N people join the waiting room, are admitted, solve the
proof-of-work and register, with bot checks and rate limits on (the goals are in
docs/benchmarks.md, Crowd scale).

Starts a private stack (nats-server, restate-server, worker, sse, and the api with
WORKERS=2) on free ports and measures, in one run:

  1. floors, with wrk at c=50: the API's `/health` and a trivial Restate call
     (`Diagnostics/ping` through the ingress);
  2. joins/s with wrk (a Lua script gives each join its own device and forwarded IP);
  3. registrations/s with wrk: M registrations are prepared first (joined, admitted, their
     proof-of-work solved, each from its own IP) and each is sent exactly once;
  4. floors of the write path: a routed read, a routed call through the rate limiter,
     and the durable batch handlers alone through the ingress (joinBatch, useTokens,
     registerBatch);
  5. the crowd: N people arriving evenly over `--arrival-seconds`, each
     join -> poll status every 300-500 ms until ready -> challenge -> solve -> register
     with 1-10 tickets, through a lean keep-alive client of `--concurrency` connections;
     time until everyone is registered, join/register p50/p99, errors by kind;
  6. the draw of the crowd's drop (admin call) and the time until the last winner's and
     the last participant's outcome event on `drop.{id}.user.>`;
  7. the peak resident memory of every process.

With `--cluster` the same run goes against `make cluster`'s processes instead (3 nats-server
and 3 restate-server nodes, the worker, 2 api replicas with WORKERS=1 each, so as many API
processes as one node has, 2 sse replicas, HAProxy and the web; devtools/clusterstack.py) on
127.0.0.1 and free ports: the crowd, wrk and the floors go through HAProxy's api address,
the Restate floors to the first node's ingress, and the memory covers every process.

    .venv/bin/python -m bench.crowd [--people 20000] [--arrival-seconds 30] [--cluster]

What a person sends is built in bench/crowd_people.py (`registration_body`); the write
path's floors are in bench/write_floors.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import uvloop

from bench import crowd_people as people
from bench import crowd_stack, write_floors, wrk_run
from bench.lean_http import Pool
from devtools.clusterstack import Cluster

ENV = {
    "WORKERS": "2",
    "QUEUE_ENABLED": "true",
    "QUEUE_ADMISSION_RATE": "2000",
    "QUEUE_MAX_CONCURRENT": "100000",
    "QUEUE_READY_WINDOW": "1800",  # seconds: nobody admitted expires during the run
    "QUEUE_MAX_AGE": "60",  # minutes of waiting before a place lapses
    "POW_DIFFICULTY": "2",
    "BOT_CHECK_ENABLED": "true",
    "SKIP_RATE_LIMIT": "false",
}
# On the cluster each of the two api replicas runs one process: two API processes in all.
CLUSTER_ENV = {**ENV, "WORKERS": "1"}
OUTCOMES = ("winner", "backup_winner", "loser")


async def outcomes_after_draw(
    stack: crowd_stack.Running, drop_id: str, close_ms: int, expected: int, timeout_s: float
) -> dict[str, Any]:
    """The draw runs by itself when registration closes (an admin may not draw earlier):
    time each person's first outcome event from that moment."""
    nc = await nats.connect(
        stack.nats_url.split(","),
        user=stack.auth.nats_user,
        password=stack.auth.nats_password,
        pending_size=512 * 1024 * 1024,
    )
    first: dict[str, tuple[str, float]] = {}
    everyone = asyncio.Event()

    async def on_event(msg: Any) -> None:
        event = json.loads(msg.data)
        user = msg.subject.rsplit(".", 1)[1]
        if event["type"] in OUTCOMES and user not in first:
            first[user] = (event["type"], time.perf_counter())
            if len(first) >= expected:
                everyone.set()

    sub = await nc.subscribe(f"drop.{drop_id}.user.>", cb=on_event, pending_msgs_limit=-1)
    t0 = time.perf_counter() + (close_ms / 1000 - time.time())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), max(0.0, t0 - time.perf_counter()) + timeout_s)
    await sub.unsubscribe()
    await nc.close()
    by_type: dict[str, list[float]] = {t: [] for t in OUTCOMES}
    for kind, at in first.values():
        by_type[kind].append(at - t0)
    return {"told": len(first), "expected": expected, "by_type": by_type}


def latency_line(name: str, seconds: list[float]) -> str:
    if not seconds:
        return f"  {name:<22} (none)"
    return (
        f"  {name:<22} p50 {statistics.median(seconds) * 1000:7.1f} ms   "
        f"p99 {people.pct(seconds, 0.99) * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms   "
        f"n={len(seconds)}"
    )


def print_wrk(result: wrk_run.WrkResult) -> None:
    print("  " + result.line(), flush=True)


async def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    name = "bench-crowd-cluster" if args.cluster else "bench-crowd"
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        stack: crowd_stack.Running
        if args.cluster:
            t = time.perf_counter()
            stack = crowd_stack.start_cluster(Path(tmp), CLUSTER_ENV)
            print(
                f"cluster: {', '.join(stack.procs)} up in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
        else:
            stack = crowd_stack.start(Path(tmp), ENV, ("worker", "sse", "api"))
        with crowd_stack.reported(stack, name):
            await measure(args, stack, Path(tmp))
    print(f"end: {crowd_stack.load_note()}")


async def measure(args: argparse.Namespace, stack: crowd_stack.Running, tmp: Path) -> None:
    api = stack.url("api")
    parts = urlsplit(api)
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, args.concurrency)
    tag = f"{int(time.time()) % 100000}"
    print(f"floors (wrk, c=50, {args.wrk_seconds:.0f} s each):")
    health, ping = crowd_stack.floors(stack, api, args.wrk_seconds)
    print_wrk(health)
    if isinstance(stack, Cluster):
        # What HAProxy costs: the same floor on one replica, past the balancer.
        print_wrk(
            wrk_run.run(
                "floor: GET /health on api1 (c=50)",
                f"{stack.url('api1')}/health",
                seconds=args.wrk_seconds,
            )
        )
    print_wrk(ping)

    c = args.wrk_connections
    print(f"throughput (wrk, c={c}, {args.wrk_seconds:.0f} s each):", flush=True)
    crowd_stack.create_drop(api, f"joins-{tag}")
    joins = wrk_run.run(
        f"joins (c={c})",
        api,
        script=wrk_run.JOINS,
        args=(f"/api/queue/joins-{tag}/join", tag),
        seconds=args.wrk_seconds,
        connections=c,
    )
    print_wrk(joins)

    crowd_stack.create_drop(api, f"regs-{tag}")
    prepared = tmp / "registrations.txt"
    t = time.perf_counter()
    prep = await people.prepare_registrations(
        pool, f"regs-{tag}", args.prepared, prepared, args.seed
    )
    ready = prepared.read_text().count("\n")
    print(
        f"  prepared {ready} registrations in {time.perf_counter() - t:.1f} s"
        + (f" (errors {dict(prep.errors)})" if prep.errors else ""),
        flush=True,
    )
    regs = wrk_run.run(
        f"registrations (c={c})",
        api,
        script=wrk_run.REGISTRATIONS,
        args=(f"/api/drop/regs-{tag}/register", str(prepared), "2"),
        seconds=args.wrk_seconds,
        connections=c,
    )
    print_wrk(regs)
    reg_rate = regs.ok() / regs.seconds
    if regs.exhausted:
        print(
            f"  ! {regs.exhausted} wrk thread(s) ran out of prepared registrations: "
            f"{reg_rate:.0f}/s is a lower bound (raise --prepared)"
        )

    await write_floors.anatomy(stack, api, tag, args.wrk_seconds)

    print(
        f"crowd: {args.people} people over {args.arrival_seconds:.0f} s, "
        f"{args.concurrency} connections ({crowd_stack.load_note()})",
        flush=True,
    )
    drop_id = f"crowd-{tag}"
    open_for = args.open_seconds or int(args.arrival_seconds + args.people / 40 + 60)
    close_ms = int(time.time() * 1000) + open_for * 1000
    crowd_stack.create_drop(api, drop_id, inventory=args.inventory, open_for_s=open_for)
    t = time.perf_counter()
    # Fresh connections: the server may have closed ones left idle during the floors.
    await pool.close()
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, args.concurrency)
    tally = await people.crowd(pool, drop_id, args.people, args.arrival_seconds, args.seed + 1)
    took = time.perf_counter() - t
    await pool.close()
    last = max(tally.registered.values(), default=float("nan"))
    print(f"  registered            {len(tally.registered)} / {args.people}")
    print(f"  everyone registered   {last:.1f} s after the first arrival (run took {took:.1f} s)")
    print(latency_line("join", tally.joins))
    print(latency_line("register", tally.registers))
    print(
        f"  status polls          {tally.polls} ({tally.polls / max(1, args.people):.2f} a person)"
    )
    print(f"  errors by kind        {dict(tally.errors) or 'none'}", flush=True)

    print(
        f"draw of the crowd's drop ({len(tally.registered)} participants) by its timer, "
        f"{max(0.0, close_ms / 1000 - time.time()):.0f} s from now:",
        flush=True,
    )
    out = await outcomes_after_draw(
        stack, drop_id, close_ms, len(tally.registered), args.outcome_timeout
    )
    for kind, times in out["by_type"].items():
        if times:
            print(
                f"  {kind:<8} told        {len(times):6d}   "
                f"median {statistics.median(times):6.2f} s"
                f"   last {max(times):6.2f} s after the draw"
            )
    everyone = [t for times in out["by_type"].values() for t in times]
    print(
        f"  everyone told         {out['told']} / {out['expected']}"
        + (f", last {max(everyone):.2f} s after the draw" if everyone else "")
    )

    print("goals:")
    print(
        crowd_stack.ratio("joins/s vs /health", joins.ok() / joins.seconds, health.rate, 0.5, 1000)
    )
    print(crowd_stack.ratio("registrations/s vs Restate ping", reg_rate, ping.rate, 0.3, 300))
    for name, r in (("joins", joins), ("registrations", regs)):
        print(
            f"  {name + ' p99 (wrk)':<42} {r.p99_ms:7.1f} ms (goal < 1000 ms): "
            f"{'met' if r.p99_ms < 1000 else 'NOT met'}"
        )
    print(
        f"  /health (wrk, c=50)                        {health.rate:.0f}/s (goal >= 5000/s): "
        f"{'met' if health.rate >= 5000 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--arrival-seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=200, help="crowd client connections")
    parser.add_argument("--inventory", type=int, default=100)
    parser.add_argument("--wrk-seconds", type=float, default=8.0)
    parser.add_argument("--wrk-connections", type=int, default=100)
    parser.add_argument("--prepared", type=int, default=6000, help="registrations prepared for wrk")
    parser.add_argument("--outcome-timeout", type=float, default=300.0)
    parser.add_argument(
        "--open-seconds",
        type=int,
        default=0,
        help="registration window of the crowd's drop (default: arrival + people/40 + 60 s); "
        "the draw runs when it closes",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="run against the local cluster (devtools/clusterstack.py) instead of one node",
    )
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
