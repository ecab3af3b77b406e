"""An open-loop crowd (docs/benchmarks.md, Open-loop crowd): people arrive at a fixed rate
whatever the answers do.

Unlike bench/crowd.py, whose client caps itself at a pool of connections (so it measures
that pool as much as the stack), here person i arrives at `i / rate` seconds, on a
connection of their own, whether or not the people before them have been answered; as many
are in flight as the stack makes wait. Each does what bench/crowd_people.py's `person` does:
join -> poll status every 300-500 ms until ready -> challenge (the one a join let in at
once carries, else `GET /api/pow/challenge`) -> solve -> register.

Starts the same private stack as bench/crowd.py (bot checks, rate limits and the waiting
room on; the api with WORKERS=2), then for each `--rates` step a fresh drop and
`rate x --seconds` people. The crowd runs in a child process at a lower priority
(`os.nice`), so the stack gets the cores first. For each step it reports:

- whether the stack absorbed the rate: the p99 of each timed step (join, register) under
  2 s, no errors, everyone registered; a person's whole arrival-to-registered time (which
  includes the 300-500 ms status polls and solving the proof-of-work) is reported apart;
- the time from the first arrival until everyone is registered;
- the server CPU per admitted (registered) person: user + system seconds of every server
  process (nats-server, restate-server, worker, sse, api and their children, read from
  /proc/<pid>/stat) during the step, over the people registered; also net of what the
  idle stack used in the 5 s before the step (its timers and polls), at the same rate;
- the client's own CPU, apart.

    .venv/bin/python -m bench.crowd_open --rates 250 --seconds 20     # 5,000 people
    .venv/bin/python -m bench.crowd_open --rates 200 400 800 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop

from bench import crowd_people as people
from bench import crowd_stack
from bench.crowd import ENV, latency_line
from bench.lean_http import Pool

GOAL_P99_S = 2.0
CLIENT_NICE = 10
IDLE_SAMPLE_S = 5.0


@dataclass
class Crowd:
    """What the client process sends back: latencies in seconds, times from the first arrival."""

    people: int
    rate: float
    joins: list[float]
    registers: list[float]
    journeys: list[float]  # arrival to registered, per registered person
    registered_at: list[float]
    polls: int
    errors: dict[str, int]
    most_in_flight: int
    arrival_lag_s: float  # how far the client fell behind its own arrival schedule
    client_cpu_s: float


async def open_crowd(
    api: str, drop_id: str, first: int, count: int, rate: float, seed: int
) -> Crowd:
    """`count` people, the i-th arriving `i / rate` seconds after the first, each on a
    connection of their own (bench/crowd_people.py's `person`). Their numbers start at
    `first`: a person registers once, whatever the drop, so each step brings new people."""
    parts = urlsplit(api)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tally = people.Tally()
    rng = random.Random(seed)
    arrived: dict[str, float] = {}
    in_flight = most = 0
    lag = 0.0

    async def one(i: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        arrived[f"crowd-{first + i}"] = time.perf_counter()
        pool = Pool(host, port, 1)  # this person's own keep-alive connection
        try:
            await people.person(pool, drop_id, first + i, tally, rng)
        finally:
            await pool.close()
            in_flight -= 1

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            lag = max(lag, -wait)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Crowd(
        people=count,
        rate=rate,
        joins=tally.joins,
        registers=tally.registers,
        journeys=[at - arrived[user] for user, at in tally.registered.items()],
        registered_at=[at - start for at in tally.registered.values()],
        polls=tally.polls,
        errors=dict(tally.errors),
        most_in_flight=most,
        arrival_lag_s=lag,
        client_cpu_s=usage.ru_utime + usage.ru_stime,
    )


def client_main(args: argparse.Namespace) -> None:
    """The child process: lower priority, run the crowd, write what happened as JSON."""
    os.nice(CLIENT_NICE)
    crowd = uvloop.run(
        open_crowd(args.api, args.drop, args.first, args.people, args.rate, args.seed)
    )
    Path(args.out).write_text(json.dumps(asdict(crowd)))


def server_pids(stack: crowd_stack.Running) -> dict[str, list[int]]:
    """Each server process's pid with its children's (granian's workers), by name."""
    return {name: [pid for pid, _ in procs] for name, procs in crowd_stack.peak_rss(stack).items()}


def cpu_by_process(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: crowd_stack.cpu_seconds(group) for name, group in pids.items()}


def nats_messages(stack: crowd_stack.Running) -> dict[str, int]:
    """Messages each client of the NATS server sent and received so far (its in + out
    counts in the monitor's `/connz`), summed by connection name; empty on a cluster."""
    monitor = getattr(stack, "nats_monitor", None)
    if monitor is None:
        return {}
    found = httpx.get(f"http://127.0.0.1:{monitor}/connz?limit=4096", timeout=5).json()
    counts: dict[str, int] = {}
    for conn in found.get("connections", []):
        name = str(conn.get("name") or "unnamed")
        counts[name] = counts.get(name, 0) + int(conn["in_msgs"]) + int(conn["out_msgs"])
    return counts


def run_step(
    stack: crowd_stack.Running, rate: float, seconds: float, first: int, seed: int
) -> dict[str, Any]:
    api = stack.url("api")
    count = int(rate * seconds)
    drop_id = f"open-{int(time.time()) % 100000}-{int(rate)}"
    crowd_stack.create_drop(api, drop_id, open_for_s=int(seconds * 4 + 600))
    crowd_stack.wait_quiet(stack, tuple(stack.procs), timeout_s=30)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        client = [sys.executable, "-m", "bench.crowd_open", "--client"]
        client += ["--api", api, "--drop", drop_id]
        client += ["--first", str(first), "--people", str(count), "--rate", str(rate)]
        client += ["--seed", str(seed)]
        client += ["--out", out.name]
        pids = server_pids(stack)
        idle = sum(cpu_by_process(pids).values())
        time.sleep(IDLE_SAMPLE_S)
        before = cpu_by_process(pids)
        idle_per_s = (sum(before.values()) - idle) / IDLE_SAMPLE_S
        messages_before = nats_messages(stack)
        started = time.perf_counter()
        subprocess.run(client, check=True)
        wall = time.perf_counter() - started
        after = cpu_by_process(pids)
        messages = nats_messages(stack)
        messages = {k: v - messages_before.get(k, 0) for k, v in messages.items()}
        by_process = {name: after[name] - before[name] for name in pids}
        cpu = sum(by_process.values())
        crowd = Crowd(**json.loads(Path(out.name).read_text()))
    registered = len(crowd.registered_at)
    p99 = {
        "join": people.pct(crowd.joins, 0.99),
        "register": people.pct(crowd.registers, 0.99),
    }
    net = cpu - idle_per_s * wall
    absorbed = (
        not crowd.errors and registered == count and all(v < GOAL_P99_S for v in p99.values())
    )
    return {
        "crowd": crowd,
        "registered": registered,
        "everyone_registered_s": max(crowd.registered_at, default=float("nan")),
        "p99": p99,
        "absorbed": absorbed,
        "server_cpu_s": cpu,
        "server_cpu_by_process": by_process,
        "server_cpu_ms_per_person": cpu / max(1, registered) * 1000,
        "server_net_cpu_ms_per_person": net / max(1, registered) * 1000,
        "idle_cores": idle_per_s,
        "server_cores_busy": cpu / wall,
        "wall_s": wall,
        "nats_messages": messages,
    }


def report(step: dict[str, Any]) -> None:
    crowd: Crowd = step["crowd"]
    print(
        f"  rate {crowd.rate:.0f}/s for {crowd.people / crowd.rate:.0f} s: registered "
        f"{step['registered']} / {crowd.people}, everyone registered "
        f"{step['everyone_registered_s']:.1f} s after the first arrival"
    )
    print(latency_line("join", crowd.joins))
    print(latency_line("register", crowd.registers))
    print(latency_line("arrival to registered", crowd.journeys))
    print(f"  status polls          {crowd.polls} ({crowd.polls / max(1, crowd.people):.2f} each)")
    print(f"  errors by kind        {crowd.errors or 'none'}")
    print(
        f"  in flight at most     {crowd.most_in_flight} people (connections); the client "
        f"fell behind its schedule by at most {crowd.arrival_lag_s * 1000:.0f} ms"
    )
    print(
        f"  server CPU            {step['server_cpu_s']:.1f} s "
        f"({step['server_cpu_ms_per_person']:.2f} ms per registered person; "
        f"{step['server_cores_busy']:.2f} cores busy on average); net of the idle stack's "
        f"{step['idle_cores']:.2f} cores: {step['server_net_cpu_ms_per_person']:.2f} ms a person"
    )
    shares = ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in step["server_cpu_by_process"].items()
    )
    print(f"  server CPU by process {shares}")
    registered = max(1, step["registered"])
    messages = step["nats_messages"]
    if messages:
        split = ", ".join(f"{name} {n / registered:.1f}" for name, n in sorted(messages.items()))
        print(
            f"  NATS messages         {sum(messages.values()) / registered:.1f} per registered "
            f"person, in and out (by client: {split})"
        )
    per_person = crowd.client_cpu_s / max(1, crowd.people) * 1000
    print(
        f"  client CPU            {crowd.client_cpu_s:.1f} s "
        f"({per_person:.2f} ms per person, at nice {CLIENT_NICE})"
    )
    verdict = "absorbed" if step["absorbed"] else "NOT absorbed"
    print(f"  {verdict} (join and register p99 < {GOAL_P99_S:.0f} s, no errors, all registered)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[250.0], help="people/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="arrivals last this long")
    parser.add_argument("--seed", type=int, default=25)
    # The child process's own arguments.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--drop", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--people", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # One connection per person in flight, on both sides: raise the descriptor limit
    # before the stack starts (its processes inherit it).
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.client:
        client_main(args)
        return
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-crowd-open-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "sse", "api"))
        absorbed: list[float] = []
        first = 0
        with crowd_stack.reported(stack, None):
            for n, rate in enumerate(args.rates):
                print(f"open crowd at {rate:.0f} people/s ({crowd_stack.load_note()}):", flush=True)
                step = run_step(stack, rate, args.seconds, first, args.seed + n)
                first += step["crowd"].people
                report(step)
                if step["absorbed"]:
                    absorbed.append(rate)
    best = f"{max(absorbed):.0f} people/s" if absorbed else "none of the rates tried"
    print(f"highest arrival rate absorbed: {best}")
    print(f"end: {crowd_stack.load_note()}")


if __name__ == "__main__":
    main()
