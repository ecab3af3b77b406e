"""How long the `loyalty` mirror lags a big draw (docs/benchmarks.md, Notifications,
"Loyalty mirror after a big draw").

Starts a private stack (nats-server, restate-server, api and the worker as deployed:
WORKER_ROLE=drops plus the notifications worker), fills one drop with `--people`
participants through `Drop/{id}/registerBatch` and lets its timer draw it (as
bench/webhooks.py does). The figure is the time from the close until every participant's
key is in the `loyalty` bucket (each one is written by `UserLoyalty.recordParticipation`),
with the NATS timeouts the drops worker logged meanwhile and its peak memory.

    .venv/bin/python -m bench.loyalty_mirror [--people 5000] [--open-for S] [--wait 600]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench import crowd_stack
from bench.webhooks import ENV, one_draw
from drop import events
from tests.support.stack import Stack


async def mirrored(stack: Stack, people: int, wait_s: float) -> tuple[float, int]:
    """Seconds (from now) until the `loyalty` bucket holds `people` keys, and how many it
    holds then (fewer when `wait_s` ran out)."""
    bus = await stack.connect_bus("bench-loyalty")
    start = time.monotonic()
    try:
        while True:
            info = await bus.js.stream_info(f"KV_{events.LOYALTY_BUCKET}")
            # History 1: one message per key.
            keys = info.state.messages
            if keys >= people or time.monotonic() - start > wait_s:
                return time.monotonic() - start, keys
            await asyncio.sleep(0.5)
    finally:
        await bus.close()


def timeouts_logged(stack: Stack, name: str) -> int:
    text = stack.log(name).read_text(errors="replace").lower()
    return sum(1 for line in text.splitlines() if "timeout" in line)


async def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-loyalty-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ())
        stack.split_workers()
        stack.start_app("api")
        with crowd_stack.reported(stack, "bench-loyalty"):
            drawn = await one_draw(stack, args.people, [], open_for_s=args.open_for)
            told = time.time() - drawn.close_ms / 1000
            took, keys = await mirrored(stack, args.people, args.wait)
            print(f"  everyone told {told:.1f} s after the close; {crowd_stack.load_note()}")
            print(
                f"  loyalty mirror: {keys} of {args.people} keys, the last "
                f"{told + took:.1f} s after the close"
            )
            print(f"  drops worker: {timeouts_logged(stack, 'worker')} log lines with timeouts")
    print(f"end: {crowd_stack.load_note()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--open-for", type=int, default=None, help="seconds of registration")
    parser.add_argument("--wait", type=int, default=600, help="most seconds to wait")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
