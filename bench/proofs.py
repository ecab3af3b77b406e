"""Proofs at crowd scale: a drawn drop with 50,000 participants, its lottery proof and
inclusion proofs against the API's own `/health`, with wrk, in one run
(docs/benchmarks.md, Crowd scale).

Starts a private stack (nats-server, restate-server, worker, and the api with WORKERS=2),
fills one drop through the durable layer directly (`Drop/{id}/registerBatch`, 500 entries
an invocation: the crowd's path is measured by bench/crowd.py), draws it, then measures at
c=50:

  1. `GET /health` (the floor), and `GET /api/drop/{id}/status`: a route through FastAPI
     answering from memory (the floor of any routed read);
  2. `GET /api/drop/{id}/lottery-proof` (lean: without the participant list); goal >= 0.5x;
  3. `GET /api/drop/{id}/inclusion-proof/{userId}` for a random participant per request
     (wrk picks from the list of all participants); goal >= 0.3x;
  4. `GET /api/drop/{id}/lottery-proof?participants=true` for reference (the full document).

    .venv/bin/python -m bench.proofs [--participants 50000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from bench import crowd_stack, wrk_run
from drop import durable
from drop.adapters.restate_ingress import ingress_path
from tests.support.stack import Stack

ENV = {
    "WORKERS": "2",
    "QUEUE_ENABLED": "false",
    "BOT_CHECK_ENABLED": "false",
    "SKIP_RATE_LIMIT": "true",
}
BATCH = 500


def user_ids(people: int, prefix: str = "p") -> list[str]:
    """The userIds `fill` enters: `{prefix}{n}`."""
    return [f"{prefix}{i}" for i in range(people)]


def fill(stack: Stack, drop_id: str, people: int, prefix: str = "p") -> float:
    """Enter `people` participants (1-10 tickets) in batches, as `user_ids(people,
    prefix)`; seconds taken. Prints the rate per tenth of the way: it shows whether a batch
    costs more as the drop grows."""
    start = mark = time.perf_counter()
    step = max(BATCH, people // 10 // BATCH * BATCH)
    with httpx.Client(base_url=stack.ingress_url, timeout=300) as ingress:
        for first in range(0, people, BATCH):
            if first and first % step == 0:
                now = time.perf_counter()
                print(f"  entries {first - step:6d}-{first:6d}: {step / (now - mark):7.0f}/s")
                mark = now
            entries = [
                {"userId": f"{prefix}{i}", "tickets": 1 + i % 10}
                for i in range(first, min(people, first + BATCH))
            ]
            r = ingress.post(
                ingress_path(durable.DROP_REGISTER_BATCH, drop_id), json={"entries": entries}
            )
            r.raise_for_status()
            refused = [x for x in r.json()["results"] if "error" in x]
            if refused:
                raise RuntimeError(f"{len(refused)} entries refused, e.g. {refused[0]}")
    return time.perf_counter() - start


def draw(api: str, drop_id: str) -> tuple[str, float, int]:
    """Wait for the draw, which its timer runs when registration closes (an admin may not
    draw earlier); seconds from the close until the proof was first served, and its lean
    size in bytes."""
    state = httpx.get(f"{api}/api/drop/{drop_id}/status", timeout=60).json()
    close = int(state["registrationEnd"]) / 1000
    time.sleep(max(0.0, close - time.time()))
    start = time.perf_counter() - max(0.0, time.time() - close)
    while time.perf_counter() - start < 600:
        proof = httpx.get(f"{api}/api/drop/{drop_id}/lottery-proof", timeout=300)
        if proof.status_code == 200 and proof.json().get("available"):
            return "drawn by its timer", time.perf_counter() - start, len(proof.content)
        time.sleep(0.05)
    raise RuntimeError("no proof 600 s after registration closed")


def warm(api: str, paths: list[str]) -> None:
    """Each API process loads the proof on its first request: warm both, on fresh
    connections, before measuring."""
    for _ in range(16):
        for path in paths:
            httpx.get(f"{api}{path}", timeout=300).raise_for_status()


def run(args: argparse.Namespace) -> None:
    print(f"start: {crowd_stack.load_note()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-proofs-") as tmp:
        stack = crowd_stack.start(Path(tmp), ENV, ("worker", "api"))
        with crowd_stack.reported(stack, "bench-proofs"):
            measure(args, stack, Path(tmp))
    print(f"end: {crowd_stack.load_note()}")


def measure(args: argparse.Namespace, stack: Stack, tmp: Path) -> None:
    api = stack.url("api")
    drop_id = f"proofs-{int(time.time()) % 100000}"
    # Open long enough to be filled; the draw runs by its timer when it closes.
    open_for = max(60, args.participants // 500)
    crowd_stack.create_drop(api, drop_id, inventory=100, open_for_s=open_for)
    took = fill(stack, drop_id, args.participants)
    print(f"filled {args.participants} participants in {took:.1f} s (registerBatch x{BATCH})")
    ended, served, size = draw(api, drop_id)
    print(
        f"draw: {ended}; proof first served {served:.2f} s after registration closed "
        f"({size / 1024:.0f} KiB lean)",
        flush=True,
    )
    quiet = crowd_stack.wait_quiet(stack, ("worker", "restate"), timeout_s=300)
    print(f"the outcome fan-out settled (worker and restate idle) {quiet:.0f} s later")
    proof = f"/api/drop/{drop_id}/lottery-proof"
    warm(api, [proof, f"/api/drop/{drop_id}/inclusion-proof/p0"])
    paths = tmp / "inclusion.txt"
    paths.write_text(
        "".join(f"/api/drop/{drop_id}/inclusion-proof/p{i}\n" for i in range(args.participants))
    )
    s = args.seconds
    print(f"wrk, c=50, {s:.0f} s each ({crowd_stack.load_note()}):", flush=True)
    health = wrk_run.run("GET /health", f"{api}/health", seconds=s)
    print("  " + health.line(), flush=True)
    routed = wrk_run.run(
        "GET /api/drop/{id}/status (routed floor)", f"{api}/api/drop/{drop_id}/status", seconds=s
    )
    print("  " + routed.line(), flush=True)
    lean = wrk_run.run("GET lottery-proof (lean)", f"{api}{proof}", seconds=s)
    print("  " + lean.line(), flush=True)
    inclusion = wrk_run.run(
        "GET inclusion-proof (random participant)",
        f"{api}/health",
        script=wrk_run.RANDOM_PATHS,
        args=(str(paths),),
        seconds=s,
    )
    print("  " + inclusion.line(), flush=True)
    full = wrk_run.run(
        "GET lottery-proof?participants=true", f"{api}{proof}?participants=true", seconds=s
    )
    print("  " + full.line() + "   (reference)", flush=True)
    print("goals (and against the routed floor, which every non-liveness route pays):")
    for name, result, factor in (
        ("lottery-proof", lean, 0.5),
        ("inclusion proofs", inclusion, 0.3),
    ):
        rate = result.ok() / result.seconds
        print(crowd_stack.ratio(f"{name} vs /health", rate, health.rate, factor, None))
        print(crowd_stack.ratio(f"{name} vs routed status", rate, routed.rate, factor, None))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
