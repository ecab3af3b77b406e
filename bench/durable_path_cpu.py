"""The durable part of a crowd person alone: restate-server's and the worker's CPU a person
when batches have a fixed size (docs/benchmarks.md, issue 25).

In the open-loop crowd the batches are as large as the api gathers while the previous one
is in flight, so their size, and with it every per-batch cost, follows the machine's load.
Here `--callers` callers each send `QueueAdmission.joinBatch` with `--batch` people, then
`Drop.registerBatch` with those people and their queue tokens (which spends them through
`useTokens`), straight to Restate's ingress, for `--people` people; the queue admits at
once (`rate` 100,000/s), as in a crowd whose line is empty. Reports user + system CPU
seconds of restate-server, the worker and nats-server per person, and Restate's
invocations per person (`sys_invocation`).

    .venv/bin/python -m bench.durable_path_cpu --people 6000 --batch 20 --callers 2
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import crowd_stack
from bench.crowd import ENV
from bench.journal_counts import query
from drop import durable
from drop.adapters.restate_ingress import ingress_path
from drop.contracts import QueueConfig

CONFIG = QueueConfig(
    rate=100_000, max_concurrent=100_000, ready_window_s=1800, max_age_s=3600
).wire()
MEASURED = ("restate", "worker", "nats")


async def person_batches(base: str, drop_id: str, people: range, batch: int, tag: str) -> None:
    """Join then register `people`, `batch` at a time, one batch after the other."""
    join_path = ingress_path(durable.QUEUE_JOIN_BATCH, drop_id)
    register_path = ingress_path(durable.DROP_REGISTER_BATCH, drop_id)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for first in range(people.start, people.stop, batch):
            ids = range(first, min(first + batch, people.stop))
            joins = [
                {"fingerprintHash": f"{i:032x}", "ipHash": f"{(1 << 120) + i:032x}"} for i in ids
            ]
            joined = await client.post(join_path, json={"joins": joins, "config": CONFIG})
            joined.raise_for_status()
            tokens = [r["ok"]["token"] for r in joined.json()["results"]]
            entries: list[dict[str, Any]] = [
                {"userId": f"{tag}{i}", "tickets": 1 + i % 10, "queueToken": t}
                for i, t in zip(ids, tokens, strict=True)
            ]
            answer = await client.post(register_path, json={"entries": entries})
            answer.raise_for_status()
            refused = [r for r in answer.json()["results"] if "error" in r]
            assert not refused, refused[:3]


async def crowd(
    base: str, drop_id: str, people: int, batch: int, callers: int, tag: str, first: int = 0
) -> None:
    """`people` people numbered from `first` (each its own device and network)."""
    share = people // callers
    await asyncio.gather(
        *(
            person_batches(
                base, drop_id, range(first + n * share, first + (n + 1) * share), batch, tag
            )
            for n in range(callers)
        )
    )


def invocations(stack: crowd_stack.Running) -> int:
    return int(query(stack, "SELECT count(*) AS n FROM sys_invocation")[0]["n"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--callers", type=int, default=2)
    args = parser.parse_args()
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-durable-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "api"))
        with crowd_stack.reported(stack, None):
            drop_id = f"durable-{int(time.time()) % 100000}"
            crowd_stack.create_drop(stack.url("api"), drop_id, open_for_s=3600)
            base = crowd_stack.ingress(stack)
            # A new room admits one person at once; the credit for the rest accrues after.
            asyncio.run(crowd(base, drop_id, 2, 1, 1, "warm", first=10**6))
            crowd_stack.wait_quiet(stack, tuple(stack.procs), timeout_s=30)
            calls = invocations(stack)
            before = crowd_stack.cpu_by_name(stack, MEASURED)
            started = time.perf_counter()
            people = args.people // args.callers * args.callers
            asyncio.run(crowd(base, drop_id, people, args.batch, args.callers, "p"))
            wall = time.perf_counter() - started
            after = crowd_stack.cpu_by_name(stack, MEASURED)
            calls = invocations(stack) - calls
    per = {name: (after[name] - before[name]) / people * 1000 for name in MEASURED}
    shares = ", ".join(f"{name} {ms:.3f} ms" for name, ms in per.items())
    print(f"{people} people in batches of {args.batch}, {args.callers} callers, {wall:.1f} s")
    print(f"  CPU a person: {shares}; together {sum(per.values()):.3f} ms")
    print(f"  Restate invocations a person: {calls / people:.4f}")
    print(f"end: {crowd_stack.load_note()}")


if __name__ == "__main__":
    main()
