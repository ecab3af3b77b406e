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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


# Each endpoint hears drop.created, drop.registration_closed, drop.drawn and one
# winner.selected per item of a drop whose windows are all still open.
HOOKS_PER_DROP = 3 + INVENTORY

# Called with (dropId, userId prefix) after the drop is created, before anyone enters.
Prepare = Callable[[str, str], Awaitable[None]]


@dataclass
class Drawn:
    """One drop's draw, timed from the close of its registration."""

    drop_id: str
    prefix: str
    close_ms: int
    # Seconds after the close of each person's first outcome event, by event type.
    by_type: dict[str, list[float]]
    # Seconds after the close until every endpoint had every event of the drop.
    hooks_in: float | None = None

    @property
    def last_winner(self) -> float:
        return max(self.by_type["winner"])

    @property
    def last_told(self) -> float:
        return max(t for times in self.by_type.values() for t in times)


async def add_endpoints(client: httpx.AsyncClient, receivers: list[Receiver]) -> list[str]:
    """Register each receiver for every event; the endpoints' ids."""
    added = []
    for receiver in receivers:
        body = {"url": receiver.url, "events": list(EVENT_TYPES)}
        r = await client.post("/api/webhooks", json=body)
        r.raise_for_status()
        receiver.secret = r.json()["secret"]
        added.append(r.json()["id"])
    return added


async def one_draw(
    stack: Stack,
    people: int,
    receivers: list[Receiver],
    *,
    prepare: Prepare | None = None,
    purchase_window_s: int = 600,
    open_for_s: int | None = None,
) -> Drawn:
    """A drop of `people` drawn by its timer, with `receivers` registered as endpoints
    for its whole life (removed afterwards)."""
    api = stack.url("api")
    async with httpx.AsyncClient(base_url=api, headers=crowd_stack.ADMIN, timeout=60) as client:
        added = await add_endpoints(client, receivers)
        drop_id = f"hooks-{len(receivers)}-{int(time.time() * 1000) % 10_000_000}"
        # Registration must outlast the fill (a few hundred entries a second on a busy
        # machine); the draw runs by its timer when it closes.
        open_for = open_for_s or max(30, people // 150)
        await asyncio.to_thread(
            crowd_stack.create_drop,
            api,
            drop_id,
            inventory=INVENTORY,
            open_for_s=open_for,
            purchase_window_s=purchase_window_s,
        )
        status = await client.get(f"/api/drop/{drop_id}/status")
        close_ms = int(status.json()["registrationEnd"])
    prefix = f"{drop_id}-"
    if prepare is not None:
        await prepare(drop_id, prefix)
    # Listening before the first entry, so no outcome can come before the subscription.
    listening = asyncio.create_task(
        outcomes_after_draw(stack, drop_id, close_ms, people, timeout_s=600)
    )
    took = await asyncio.to_thread(fill, stack, drop_id, people, prefix)
    if time.time() * 1000 >= close_ms:
        raise RuntimeError(f"the fill ({took:.0f} s) outlasted registration ({open_for} s)")
    told = await listening
    if told["told"] < people:
        raise RuntimeError(f"only {told['told']} of {people} told")
    drawn = Drawn(drop_id, prefix, close_ms, told["by_type"])
    if receivers:
        drawn.hooks_in = await _hooks_in(receivers, close_ms)
    async with httpx.AsyncClient(base_url=api, headers=crowd_stack.ADMIN, timeout=60) as client:
        for endpoint_id in added:
            await _report_deliveries(client, endpoint_id)
            await client.delete(f"/api/webhooks/{endpoint_id}")
    return drawn


async def _hooks_in(receivers: list[Receiver], close_ms: int) -> float:
    """Seconds after the close until every receiver had every event of the drop (each
    counted once by webhook-id); says how many came when some never did."""

    def complete(r: Receiver) -> bool:
        return len(r.by_id()) >= HOOKS_PER_DROP

    for receiver in receivers:
        try:
            await receiver.wait_for(complete, 300)
        except TimeoutError:
            print(f"    receiver {receiver.port}: {len(receiver.by_id())} of {HOOKS_PER_DROP}")
    assert not any(r.refused for r in receivers), "a signature did not verify"
    for receiver in receivers:
        repeats = len(receiver.received) - len(receiver.by_id())
        print(
            f"    receiver {receiver.port}: {len(receiver.by_id())} webhook-ids of "
            f"{HOOKS_PER_DROP} expected ({repeats} repeated deliveries)"
        )
    closed_at = time.monotonic() - (time.time() - close_ms / 1000)
    last = max(i.at for r in receivers for i in r.received)
    return last - closed_at


async def _report_deliveries(client: httpx.AsyncClient, endpoint_id: str) -> None:
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


async def measure(args: argparse.Namespace, stack: Stack) -> None:
    receivers = [await started(devstack.free_port()) for _ in range(2)]
    results: dict[str, list[Drawn]] = {"none": [], "two": []}
    try:
        for n in range(args.rounds):
            order = ("none", "two") if n % 2 == 0 else ("two", "none")
            for label in order:
                for r in receivers:
                    r.received.clear()
                got = await one_draw(stack, args.people, receivers if label == "two" else [])
                results[label].append(got)
                print(f"  {label:>4} endpoints: {timings(got)}", flush=True)
    finally:
        for r in receivers:
            await r.stop()
    print(compared(results["none"], results["two"], "no endpoints", "two"))


def timings(drawn: Drawn) -> str:
    hooks = f", every webhook in {drawn.hooks_in:.2f} s" if drawn.hooks_in else ""
    return (
        f"last winner {drawn.last_winner:.2f} s, last participant {drawn.last_told:.2f} s "
        f"after close{hooks}"
    )


def compared(base: list[Drawn], other: list[Drawn], base_name: str, other_name: str) -> str:
    """The medians of the last outcome, and their ratio."""
    a = statistics.median(x.last_told for x in base)
    b = statistics.median(x.last_told for x in other)
    return (
        f"last outcome (median): {a:.2f} s with {base_name}, {b:.2f} s with {other_name} "
        f"({b / a:.2f}x)"
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
