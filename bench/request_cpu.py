"""The api's CPU per request, by route (docs/benchmarks.md, Open-loop crowd: the hot routes).

Answers per second move with whatever else the machine runs; the CPU one answer costs the
api process moves much less, so this is the figure to compare between two versions. Starts
nats-server, restate-server, the worker and the api (one process, `WORKERS=1`, the crowd's
settings: guards and the waiting room on), then for each route wrk at c=50 for
`--seconds`, and reads the api process's user + system CPU from /proc around it:

- `GET /health`: answered before routing (the server and the outer middlewares);
- `GET /api/drop/{id}/status`: a routed read answered from memory (FastAPI's routing);
- `GET /api/queue/{id}/status/{token}`: the crowd's status poll (one KV read);
- `GET /api/pow/challenge`: a rate-limit write and the challenge's write, each request
  from its own address;
- `POST /api/queue/{id}/join`: a rate-limit write and a share of the waiting room's group
  commit through Restate, each from its own device and address.

    .venv/bin/python -m bench.request_cpu [--seconds 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import crowd_stack, wrk_run
from bench.crowd import ENV


def measured(
    name: str, url: str, pids: list[int], seconds: float, script: str, args: tuple[str, ...]
) -> str:
    before = crowd_stack.cpu_seconds(pids)
    result = wrk_run.run(name, url, script=script, args=args, seconds=seconds)
    used = crowd_stack.cpu_seconds(pids) - before
    per = used / result.requests * 1e6 if result.requests else float("nan")
    return f"  {result.line()}\n  {'':<44} api CPU {used:5.1f} s, {per:6.0f} us a request"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-request-cpu-") as tmp:
        env = {**ENV, "WORKERS": "1", "RATE_LIMIT_DEFAULT": "1000000"}
        stack = crowd_stack.start(Path(tmp), env, ("worker", "api"))
        try:
            api = stack.url("api")
            crowd_stack.create_drop(api, "cpu-drop")
            pids = [pid for pid, _ in crowd_stack.peak_rss(stack)["api"]]
            join = ("/api/queue/cpu-drop/join", "cpu")
            routes = [
                ("GET /health", f"{api}/health", "", ()),
                ("GET /api/drop/{id}/status (routed)", f"{api}/api/drop/cpu-drop/status", "", ()),
                (
                    "GET /api/queue/{id}/status/{token}",
                    f"{api}/api/queue/cpu-drop/status/no-such-token",
                    "",
                    (),
                ),
                ("GET /api/pow/challenge", f"{api}/api/pow/challenge", wrk_run.UNIQUE_IP_GET, ()),
                ("POST /api/queue/{id}/join", api, wrk_run.JOINS, join),
            ]
            print(f"wrk, c=50, {args.seconds:.0f} s each ({crowd_stack.load_note()}):")
            for name, url, script, wrk_args in routes:
                print(measured(name, url, pids, args.seconds, script, wrk_args), flush=True)
        finally:
            stack.stop()
    print(f"end: {crowd_stack.load_note()}")


if __name__ == "__main__":
    main()
