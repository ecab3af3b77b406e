"""What Prometheus metrics cost the api: registrations and queue status with metrics on vs
off, in the same run, against the same worker and Restate.

Two api processes share one stack: one with METRICS_ENABLED=true (the default: request
middleware, /metrics), one with METRICS_ENABLED=false. Each round loads one, then the
other (the order alternates by round, so drift falls on both), with wrk:
  - registrations: POST /api/drop/{id}/register, each a new person (prepared bodies);
  - status: GET /api/drop/{id}/status, what every open drop page polls and reloads.
The medians over the rounds are compared: cost = 1 - on/off. On a busy machine these
swing by 10% from round to round, so the run also times the middleware itself in-process
(a FastAPI route called through ASGI with and without it, no network): its microseconds
per request, and the share of a core that is at the status rate measured.

    .venv/bin/python -m bench.metrics_overhead [--rounds 3] [--seconds 5] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI

from bench import crowd_stack, wrk_run
from drop import metrics
from drop.settings import MetricsSettings
from tests.support.stack import Stack, start_api

VARIANTS = ("on", "off")


def registrations_file(path: Path, tag: str, count: int) -> Path:
    """`count` registrations, one per line `ip<TAB>body`, each a different person."""
    lines = (
        f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\t"
        + json.dumps({"userId": f"mo-{tag}-{i}", "tickets": 1}, separators=(",", ":"))
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def status_app(instrumented: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/api/drop/{dropId}/status")
    async def status(dropId: str) -> dict[str, str]:
        return {"dropId": dropId, "phase": "registration"}

    metrics.instrument_http(app, "bench", MetricsSettings(metrics_enabled=instrumented))
    return app


async def per_request_us(app: FastAPI, n: int) -> float:
    """Microseconds per request through the whole ASGI app, best of three runs."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/drop/d1/status",
        "raw_path": b"/api/drop/d1/status",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    async with app.router.lifespan_context(app):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                await app(dict(scope), receive, send)
            best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


def middleware_cost(n: int) -> tuple[float, float]:
    """(µs per request without metrics, µs added by them)."""
    # Alternated and the fastest of each kept: a busy machine only ever adds time.
    apps = {False: status_app(False), True: status_app(True)}
    best = {False: float("inf"), True: float("inf")}
    for _ in range(5):
        for instrumented, app in apps.items():
            best[instrumented] = min(best[instrumented], asyncio.run(per_request_us(app, n)))
    return best[False], best[True] - best[False]


def measure(args: argparse.Namespace, stack: Stack, apis: dict[str, str], tmp: Path) -> None:
    rates: dict[tuple[str, str], list[float]] = {}
    tag = f"{int(time.time()) % 100000}"
    for rnd in range(args.rounds):
        order = VARIANTS if rnd % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            api = apis[variant]
            drop_id = f"mo-{tag}-{rnd}-{variant}"
            crowd_stack.create_drop(api, drop_id, open_for_s=3600)
            people = registrations_file(tmp / f"{drop_id}.txt", drop_id, args.prepared)
            crowd_stack.wait_quiet(stack, ("worker", "restate", f"api-{variant}"), 20)
            regs = wrk_run.run(
                f"round {rnd + 1} metrics {variant}: registrations",
                api,
                script=wrk_run.REGISTRATIONS,
                args=(f"/api/drop/{drop_id}/register", str(people), "2"),
                seconds=args.seconds,
                connections=args.connections,
            )
            print(regs.line(), flush=True)
            if regs.exhausted:
                print("  ! ran out of prepared registrations: raise --prepared")
            status = wrk_run.run(
                f"round {rnd + 1} metrics {variant}: drop status",
                f"{api}/api/drop/{drop_id}/status",
                seconds=args.seconds,
                connections=args.connections,
            )
            print(status.line(), flush=True)
            rates.setdefault((variant, "registrations"), []).append(regs.ok() / regs.seconds)
            rates.setdefault((variant, "status"), []).append(status.ok() / status.seconds)

    print(f"medians over {args.rounds} rounds (c={args.connections}, {args.seconds:.0f} s each):")
    for work in ("registrations", "status"):
        on = statistics.median(rates[("on", work)])
        off = statistics.median(rates[("off", work)])
        print(
            f"  {work:<14} on {on:8.1f}/s  off {off:8.1f}/s  "
            f"on/off {on / off:5.3f}  cost {100 * (1 - on / off):+5.1f}%  (goal <= 5%)"
        )
    bare, added = middleware_cost(args.inprocess)
    status_rate = statistics.median(rates[("off", "status")])
    print(
        f"in-process, {args.inprocess} requests: the route alone {bare:.1f} µs, metrics add "
        f"{added:.1f} µs per request = {100 * added * status_rate / 1e6:.2f}% of a core at "
        f"{status_rate:.0f} status reads/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--prepared", type=int, default=40_000, help="registrations per run")
    parser.add_argument("--inprocess", type=int, default=20_000, help="requests timed in-process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        tmp = Path(root)
        # The test stack's settings: no waiting room, no bot checks, no rate limits.
        stack = crowd_stack.start(tmp / "stack", {}, ("worker",))
        try:
            apis = {}
            for variant in VARIANTS:
                name = f"api-{variant}"
                env = {"METRICS_ENABLED": str(variant == "on").lower(), "LOG_LEVEL": "WARNING"}
                apis[variant], stack.procs[name] = start_api(stack, name, env)
            print(f"metrics overhead ({crowd_stack.load_note()})", flush=True)
            measure(args, stack, apis, tmp)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
