"""A crowd takes one drop: N people join the waiting room, are admitted, solve the
proof-of-work and register, with bot checks and rate limits on (issue 13).

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

    .venv/bin/python bench/crowd.py [--people 20000] [--arrival-seconds 30]
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root replaces this script's folder on the path (bench/queue_admission.py
# would shadow the standard library's `queue`).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import httpx  # noqa: E402
import nats  # noqa: E402
import uvloop  # noqa: E402

from bench import crowd_stack, wrk_run  # noqa: E402
from bench.lean_http import ConnectionLost, Pool, Reply  # noqa: E402
from drop.contracts import QueueConfig  # noqa: E402
from drop.domain import pow as pow_rules  # noqa: E402

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
OUTCOMES = ("winner", "backup", "lost")


def registration_body(
    user_id: str,
    tickets: int,
    fingerprint: str,
    challenge: str,
    nonce: str,
    queue_token: str,
    rng: random.Random,
) -> dict[str, Any]:
    """The one place that knows a registration's wire names and plausible human signals
    (drop/contracts.py RegisterIn; scored by drop/domain/trust.py)."""
    return {
        "userId": user_id,
        "tickets": tickets,
        "queueToken": queue_token,
        "botValidation": {
            "fingerprint": fingerprint,
            "fingerprintConfidence": round(rng.uniform(0.85, 0.99), 2),
            "timingMs": rng.randint(3_000, 9_000),
            "powSolution": nonce,
            "powChallenge": challenge,
        },
        "behaviorSignals": {
            "mouseMoves": rng.randint(20, 200),
            "scrolls": rng.randint(2, 15),
            "keyPresses": rng.randint(0, 12),
            "focusChanges": rng.randint(0, 3),
            "visibilityChanges": rng.randint(0, 2),
            "timeOnPageMs": rng.randint(4_000, 30_000),
            "interactionVariance": round(rng.uniform(0.3, 0.9), 2),
        },
    }


def ip_of(first: int, i: int) -> str:
    return f"{first}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Tally:
    joins: list[float] = field(default_factory=list)
    registers: list[float] = field(default_factory=list)
    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    registered: dict[str, float] = field(default_factory=dict)  # userId -> when

    def fail(self, step: str, reply: Reply | None, kind: str = "") -> None:
        self.errors[f"{step} {reply.status} {reply.code}" if reply else f"{step} {kind}"] += 1


class Refused(Exception):
    pass


async def call(
    tally: Tally, step: str, pool: Pool, method: str, path: str, body: Any, ip: str
) -> Reply:
    try:
        reply = await pool.request(method, path, body, {"X-Forwarded-For": ip})
    except ConnectionLost:
        tally.fail(step, None, "connection lost")
        raise Refused from None
    except OSError as exc:
        tally.fail(step, None, f"connect: {exc.strerror or exc}")
        raise Refused from None
    except TimeoutError:
        tally.fail(step, None, "timeout")
        raise Refused from None
    if reply.status != 200:
        tally.fail(step, reply)
        raise Refused
    return reply


async def admitted(
    pool: Pool, drop_id: str, ip: str, fingerprint: str, tally: Tally, rng: random.Random
) -> tuple[str, str, str]:
    """Join, wait for admission, solve a fresh challenge: (token, challenge, nonce)."""
    joined = await call(
        tally, "join", pool, "POST", f"/api/queue/{drop_id}/join", {"fingerprint": fingerprint}, ip
    )
    tally.joins.append(joined.seconds)
    answer = joined.json()
    token, status = str(answer["token"]), answer["status"]
    while status != "ready":
        await asyncio.sleep(rng.uniform(0.3, 0.5))
        polled = await call(
            tally, "status", pool, "GET", f"/api/queue/{drop_id}/status/{token}", None, ip
        )
        tally.polls += 1
        status = polled.json()["status"]
        if status not in ("waiting", "ready"):
            tally.fail("status", None, f"became {status}")
            raise Refused
    issued = (await call(tally, "challenge", pool, "GET", "/api/pow/challenge", None, ip)).json()
    nonce = pow_rules.solve(issued["challenge"], int(issued["difficulty"]))
    return token, issued["challenge"], nonce


async def person(pool: Pool, drop_id: str, i: int, tally: Tally, rng: random.Random) -> None:
    ip, user_id, fingerprint = ip_of(10, i), f"crowd-{i}", f"device-crowd-{i}"
    try:
        token, challenge, nonce = await admitted(pool, drop_id, ip, fingerprint, tally, rng)
        body = registration_body(
            user_id, rng.randint(1, 10), fingerprint, challenge, nonce, token, rng
        )
        done = await call(
            tally, "register", pool, "POST", f"/api/drop/{drop_id}/register", body, ip
        )
    except Refused:
        return
    tally.registers.append(done.seconds)
    tally.registered[user_id] = time.perf_counter()


async def crowd(pool: Pool, drop_id: str, people: int, spread_s: float, seed: int) -> Tally:
    tally = Tally()
    rng = random.Random(seed)
    tasks = []
    start = time.perf_counter()

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            print(
                f"    {time.perf_counter() - start:5.0f} s: arrived {len(tasks)}, joined "
                f"{len(tally.joins)}, registered {len(tally.registered)}, "
                f"errors {sum(tally.errors.values())}",
                flush=True,
            )

    reporter = asyncio.create_task(progress())
    for i in range(people):
        wait = start + i * spread_s / people - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(person(pool, drop_id, i, tally, rng)))
    await asyncio.gather(*tasks)
    reporter.cancel()
    tally.registered = {u: t - start for u, t in tally.registered.items()}
    return tally


async def prepare_registrations(
    pool: Pool, drop_id: str, count: int, path: Path, seed: int
) -> Tally:
    """`count` registrations ready to send, one per line `ip<TAB>body`: each person joined
    and was admitted, and holds a solved challenge nobody has spent."""
    tally = Tally()
    rng = random.Random(seed)
    lines: list[str] = []

    async def one(i: int) -> None:
        ip, fingerprint = ip_of(12, i), f"device-wrk-{i}"
        try:
            token, challenge, nonce = await admitted(pool, drop_id, ip, fingerprint, tally, rng)
        except Refused:
            return
        body = registration_body(
            f"wrk-{i}", rng.randint(1, 10), fingerprint, challenge, nonce, token, rng
        )
        lines.append(f"{ip}\t{json.dumps(body, separators=(',', ':'))}")

    await asyncio.gather(*(one(i) for i in range(count)))
    await asyncio.to_thread(path.write_text, "\n".join(lines) + "\n")
    return tally


async def outcomes_after_draw(
    nats_url: str, api: str, drop_id: str, expected: int, timeout_s: float
) -> dict[str, Any]:
    """Draw the drop (admin call) and time each outcome event from just before the call."""
    nc = await nats.connect(nats_url, pending_size=512 * 1024 * 1024)
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
    async with httpx.AsyncClient(base_url=api, timeout=120) as client:
        t0 = time.perf_counter()
        drawn = await client.post(f"/api/drop/{drop_id}/lottery", headers=crowd_stack.ADMIN)
        answered = time.perf_counter() - t0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), timeout_s)
    await sub.unsubscribe()
    await nc.close()
    by_type: dict[str, list[float]] = {t: [] for t in OUTCOMES}
    for kind, at in first.values():
        by_type[kind].append(at - t0)
    return {
        "status": drawn.status_code,
        "answer": drawn.json() if drawn.status_code == 200 else drawn.text,
        "answered_s": answered,
        "told": len(first),
        "expected": expected,
        "by_type": by_type,
    }


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


async def anatomy(stack: Any, api: str, tag: str, seconds: float) -> None:
    """Floors of the write path, to say which one stops joins and registrations: a routed
    read, a routed call that passes the rate limiter (NATS KV compare-and-set) and writes
    to KV, and the durable batch handlers called directly through the ingress."""
    print("floors of the write path:", flush=True)
    routed = wrk_run.run(
        "GET /api/drop/{id}/status (routed read, c=50)",
        f"{api}/api/drop/regs-{tag}/status",
        seconds=seconds,
    )
    print_wrk(routed)
    challenge = wrk_run.run(
        "GET /api/pow/challenge (rate limit + KV, c=50)",
        f"{api}/api/pow/challenge",
        script=wrk_run.UNIQUE_IP_GET,
        seconds=seconds,
    )
    print_wrk(challenge)
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

    direct = f"direct-{tag}"
    rate, joined = await durable_batches(
        stack.ingress_url, f"/QueueAdmission/{direct}/joinBatch", joins, 4000, 200, 2
    )
    print(f"  {'QueueAdmission.joinBatch x200, 2 callers':<44} {rate:9.1f}/s", flush=True)
    tokens = [r["ok"]["token"] for r in joined if "ok" in r]
    await asyncio.sleep(len(tokens) / 2000 + 2)  # admitted at 2,000/s

    def uses(first: int, last: int) -> dict[str, Any]:
        return {"uses": [{"token": tokens[i], "userId": f"d{i}"} for i in range(first, last)]}

    rate, used = await durable_batches(
        stack.ingress_url, f"/QueueAdmission/{direct}/useTokens", uses, len(tokens), 200, 2
    )
    refused = sum(1 for r in used if "error" in r)
    print(
        f"  {'QueueAdmission.useTokens x200, 2 callers':<44} {rate:9.1f}/s"
        + (f"  ({refused} refused)" if refused else ""),
        flush=True,
    )
    rate, _ = await durable_batches(
        stack.ingress_url, f"/Drop/{direct}/registerBatch", entries, 4000, 200, 2
    )
    print(f"  {'Drop.registerBatch x200, 2 callers (no tokens)':<44} {rate:9.1f}/s", flush=True)


def latency_line(name: str, seconds: list[float]) -> str:
    if not seconds:
        return f"  {name:<22} (none)"
    return (
        f"  {name:<22} p50 {statistics.median(seconds) * 1000:7.1f} ms   "
        f"p99 {pct(seconds, 0.99) * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms   "
        f"n={len(seconds)}"
    )


def print_wrk(result: wrk_run.WrkResult) -> None:
    print("  " + result.line(), flush=True)


async def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-crowd-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "sse", "api"))
        try:
            await measure(args, stack, Path(tmp))
        except BaseException:
            crowd_stack.print_log_tails(stack)
            raise
        finally:
            print("warnings and errors in the processes' logs:")
            print("\n".join(crowd_stack.log_problems(stack)))
            print(f"  logs kept in {crowd_stack.keep_logs(stack, 'bench-crowd')}")
            print("peak resident memory (VmHWM):")
            print("\n".join(crowd_stack.rss_lines(stack)))
            stack.stop()
    print(f"end: {crowd_stack.load_note()}")


async def measure(args: argparse.Namespace, stack: Any, tmp: Path) -> None:
    api = stack.url("api")
    parts = urlsplit(api)
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, args.concurrency)
    tag = f"{int(time.time()) % 100000}"
    print(f"floors (wrk, c=50, {args.wrk_seconds:.0f} s each):")
    health, ping = crowd_stack.floors(stack, api, args.wrk_seconds)
    print_wrk(health)
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
    prep = await prepare_registrations(pool, f"regs-{tag}", args.prepared, prepared, args.seed)
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

    await anatomy(stack, api, tag, args.wrk_seconds)

    print(
        f"crowd: {args.people} people over {args.arrival_seconds:.0f} s, "
        f"{args.concurrency} connections ({crowd_stack.load_note()})",
        flush=True,
    )
    drop_id = f"crowd-{tag}"
    crowd_stack.create_drop(api, drop_id, inventory=args.inventory)
    t = time.perf_counter()
    # Fresh connections: the server may have closed ones left idle during the floors.
    await pool.close()
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, args.concurrency)
    tally = await crowd(pool, drop_id, args.people, args.arrival_seconds, args.seed + 1)
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

    print(f"draw of the crowd's drop ({len(tally.registered)} participants):", flush=True)
    out = await outcomes_after_draw(
        stack.nats_url, api, drop_id, len(tally.registered), args.outcome_timeout
    )
    print(
        f"  admin draw call       {out['status']} in {out['answered_s'] * 1000:.0f} ms: "
        f"{out['answer']}"
    )
    for kind, times in out["by_type"].items():
        if times:
            print(
                f"  {kind:<8} told        {len(times):6d}   "
                f"median {statistics.median(times):6.2f} s"
                f"   last {max(times):6.2f} s after the draw call"
            )
    everyone = [t for times in out["by_type"].values() for t in times]
    print(
        f"  everyone told         {out['told']} / {out['expected']}"
        + (f", last {max(everyone):.2f} s after the draw call" if everyone else "")
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
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
