"""A draw with two webhook endpoints registered against the same draw with none, in one
run (docs/benchmarks.md, Webhooks).

Starts a private stack (nats-server, restate-server, worker, api) on free ports and runs
`--rounds` pairs of drops, alternating which goes first: each drop is filled with
`--people` participants through the durable layer (`Drop/{id}/registerBatch`, as
bench/proofs.py does) and drawn by its timer; the figure is the time from the close of
registration to the last winner's and the last participant's outcome event on
`drop.{id}.user.>`. With endpoints, two local receivers (answering 204 at once, every
signature verified with `standardwebhooks`) take every event, and the time until they
have every winner.selected is printed too.

    .venv/bin/python -m bench.webhooks [--people 20000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import crowd_stack
from bench.crowd import outcomes_after_draw
from bench.proofs import fill
from devtools import devstack
from drop.webhooks.catalog import EVENT_TYPES
from tests.support.stack import Stack
from tests.support.webhook_receiver import Receiver, started

ENV = {"QUEUE_ENABLED": "false", "BOT_CHECK_ENABLED": "false", "SKIP_RATE_LIMIT": "true"}
INVENTORY = 100


async def one_draw(
    stack: Stack, people: int, receivers: list[Receiver]
) -> tuple[float, float, float | None]:
    """(last winner told, last participant told, all winner.selected webhooks in), seconds
    after registration closed."""
    api = stack.url("api")
    added = []
    async with httpx.AsyncClient(base_url=api, headers=crowd_stack.ADMIN, timeout=60) as client:
        for receiver in receivers:
            body = {"url": receiver.url, "events": list(EVENT_TYPES)}
            r = await client.post("/api/webhooks", json=body)
            r.raise_for_status()
            receiver.secret = r.json()["secret"]
            added.append(r.json()["id"])
        drop_id = f"hooks-{len(receivers)}-{int(time.time() * 1000) % 10_000_000}"
        # Registration must outlast the fill (a few hundred entries a second on a busy
        # machine); the draw runs by its timer when it closes.
        open_for = max(30, people // 150)
        await asyncio.to_thread(
            crowd_stack.create_drop, api, drop_id, inventory=INVENTORY, open_for_s=open_for
        )
        status = await client.get(f"/api/drop/{drop_id}/status")
        close_ms = int(status.json()["registrationEnd"])
    # Listening before the first entry, so no outcome can come before the subscription.
    listening = asyncio.create_task(
        outcomes_after_draw(stack, drop_id, close_ms, people, timeout_s=600)
    )
    took = await asyncio.to_thread(fill, stack, drop_id, people)
    if time.time() * 1000 >= close_ms:
        raise RuntimeError(f"the fill ({took:.0f} s) outlasted registration ({open_for} s)")
    told = await listening
    if told["told"] < people:
        raise RuntimeError(f"only {told['told']} of {people} told")
    winners = told["by_type"]["winner"]
    everyone = [t for times in told["by_type"].values() for t in times]
    hooks_in: float | None = None
    if receivers:

        def complete(r: Receiver) -> bool:
            heard = {i.id for i in r.received if i.type == "winner.selected"}
            return len(heard) >= INVENTORY

        for receiver in receivers:
            await receiver.wait_for(complete, 120)
        closed_at = time.monotonic() - (time.time() - close_ms / 1000)
        last = max(i.at for r in receivers for i in r.received if i.type == "winner.selected")
        hooks_in = last - closed_at
        assert not any(r.refused for r in receivers), "a signature did not verify"
    async with httpx.AsyncClient(base_url=api, headers=crowd_stack.ADMIN, timeout=60) as client:
        for endpoint_id in added:
            found = (await client.get(f"/api/webhooks/{endpoint_id}/deliveries")).json()
            records = found["deliveries"]
            lags = sorted((d["lastAttemptAt"] - d["createdAt"]) / 1000 for d in records)
            retried = sum(1 for d in records if d["attempts"] > 1)
            errors = {d["error"] for d in records if d["error"]}
            if errors:
                print(f"    errors: {sorted(errors)[:3]}")
            if lags:
                print(
                    f"    {endpoint_id}: {len(records)} deliveries, event to delivery "
                    f"p50 {statistics.median(lags):.2f} s max {lags[-1]:.2f} s, "
                    f"{retried} needed more than one attempt"
                )
            await client.delete(f"/api/webhooks/{endpoint_id}")
    return max(winners), max(everyone), hooks_in


async def measure(args: argparse.Namespace, stack: Stack) -> None:
    receivers = [await started(devstack.free_port()) for _ in range(2)]
    results: dict[str, list[tuple[float, float, float | None]]] = {"none": [], "two": []}
    try:
        for n in range(args.rounds):
            order = ("none", "two") if n % 2 == 0 else ("two", "none")
            for label in order:
                for r in receivers:
                    r.received.clear()
                got = await one_draw(stack, args.people, receivers if label == "two" else [])
                results[label].append(got)
                hooks = f", webhooks of every winner in {got[2]:.2f} s" if got[2] else ""
                print(
                    f"  {label:>4} endpoints: last winner {got[0]:.2f} s, last participant "
                    f"{got[1]:.2f} s after close{hooks}",
                    flush=True,
                )
    finally:
        for r in receivers:
            await r.stop()
    base = statistics.median(x[1] for x in results["none"])
    hooked = statistics.median(x[1] for x in results["two"])
    print(
        f"last outcome: {base:.2f} s with no endpoints, {hooked:.2f} s with two "
        f"({hooked / base:.2f}x)"
    )


async def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "api"))
        with crowd_stack.reported(stack, "bench-webhooks"):
            await measure(args, stack)
    print(f"end: {crowd_stack.load_note()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
