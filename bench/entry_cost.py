"""What one journaled state entry costs, alone: the floor under any state layout.

Starts restate-server (the stack's settings) and `bench.entry_probe`, a service that only
touches state, served the way the worker is. Two callers then send `EntryProbe/touch`
calls one after another, each on an object of its own, in three rounds: calls that touch
nothing (the cost of an invocation), calls that write `--keys` keys, and calls that read
`--keys` keys and write them (a lazy read is a command and its completion). Reports the
user + system CPU of restate-server and of the probe per call, and what a write and a
read add to a call; a fourth round awaits the reads through `restate.gather` first
(docs/benchmarks.md, issue 25).

    .venv/bin/python -m bench.entry_cost --calls 300 --keys 50
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import crowd_stack
from devtools import devstack
from devtools.procs import Proc
from tests.support.stack import Stack

MEASURED = ("restate", "probe")


def start_probe(stack: Stack) -> None:
    port = devstack.free_port()
    args = [sys.executable, "-m", "bench.entry_probe", str(port)]
    proc = Proc("probe", args, devstack.base_env({}), stack.log("probe"))
    stack.procs["probe"] = proc.start()
    devstack.register_worker(stack.admin_port, f"http://127.0.0.1:{port}")


async def round_of(
    ingress: str, calls: int, reads: int, writes: int, tag: str, gathered: bool = False
) -> float:
    """Wall seconds for `calls` calls, half on each of two callers' objects."""
    async with httpx.AsyncClient(base_url=ingress, timeout=60) as client:

        async def caller(lane: int) -> None:
            for n in range(calls // 2):
                body = {
                    "first": n * max(reads, writes, 1),
                    "reads": reads,
                    "writes": writes,
                    "gathered": gathered,
                }
                r = await client.post(f"/EntryProbe/{tag}-{lane}/touch", json=body)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(caller(0), caller(1))
        return time.perf_counter() - start


def measure(stack: Stack, args: argparse.Namespace) -> None:
    rounds = (
        ("nothing", 0, 0, False),
        (f"{args.keys} writes", 0, args.keys, False),
        (f"{args.keys} reads of new keys, {args.keys} writes", args.keys, args.keys, False),
        ("the same, reads gathered (restate.gather)", args.keys, args.keys, True),
    )
    cost: list[dict[str, float]] = []
    for n, (name, reads, writes, gathered) in enumerate(rounds):
        before = crowd_stack.cpu_by_name(stack, MEASURED)
        tag = f"round{n}"
        wall = asyncio.run(round_of(stack.ingress_url, args.calls, reads, writes, tag, gathered))
        after = crowd_stack.cpu_by_name(stack, MEASURED)
        cost.append({k: (after[k] - before[k]) * 1e6 / args.calls for k in MEASURED})
        per_call = ", ".join(f"{k} {v:.0f} µs" for k, v in cost[-1].items())
        print(f"  {name:<40} {args.calls / wall:7.0f} calls/s  CPU a call: {per_call}")
    nothing, writes_only, both, gathered_both = cost
    added = (
        ("a write (SetState)", writes_only, nothing),
        ("a lazy read", both, writes_only),
        ("a gathered read", gathered_both, writes_only),
    )
    for what, with_it, without in added:
        extra = {k: (with_it[k] - without[k]) / args.keys for k in MEASURED}
        print(
            f"  {what:<20} restate-server {extra['restate']:5.1f} µs, "
            f"probe {extra['probe']:5.1f} µs, together {sum(extra.values()):5.1f} µs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--keys", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-entry-") as tmp:
        stack = Stack(Path(tmp), extra_env={"LOG_LEVEL": "WARNING"})
        try:
            stack.start_servers()
            start_probe(stack)
            print(f"start: {crowd_stack.load_note()}")
            measure(stack, args)
            print(f"end: {crowd_stack.load_note()}")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
