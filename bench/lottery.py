"""Benchmark the draw: 1,000 winners + 500 backups among 100,000 weighted participants.

Run: ``.venv/bin/python -m bench.lottery``. Times are the best of several runs without
tracing; peak memory is measured in a separate traced run (tracemalloc slows code down).
The naive baseline expands every participant into one entry per ticket and re-draws on
duplicates, and builds its Merkle tree over hex strings.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence

from drop.domain.lottery import (
    LotteryProof,
    Participant,
    RandomStream,
    derive_seed,
    draw,
    merkle_leaves,
    order_participants,
    run_draw,
)

PARTICIPANTS = 100_000
WINNERS = 1_000
BACKUP_MULTIPLIER = 1.5
SECRET = hashlib.sha256(b"bench-secret").hexdigest()


def make_participants(count: int, seed: int = 42) -> list[Participant]:
    rng = random.Random(seed)
    return [Participant(f"user-{i:06d}", rng.randint(1, 20)) for i in range(count)]


def optimized(ps: Sequence[Participant]) -> LotteryProof:
    return run_draw("bench", SECRET, ps, WINNERS, BACKUP_MULTIPLIER, 0)


def _naive_root(leaves: list[str]) -> str:
    level = leaves
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            raw = b"\x01" + bytes.fromhex(level[i]) + bytes.fromhex(level[i + 1])
            nxt.append(hashlib.sha256(raw).hexdigest())
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else hashlib.sha256(b"").hexdigest()


def naive_select(ordered: Sequence[Participant], seed: str) -> list[str]:
    """Ticket expansion: one entry per ticket, re-draw when a pick is already chosen."""
    stream = RandomStream(seed)
    entries = [i for i, p in enumerate(ordered) for _ in range(p.effective_tickets)]
    wanted = WINNERS + WINNERS // 2
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < wanted:
        index = entries[stream.next_below(len(entries))]
        if index not in seen:
            seen.add(index)
            chosen.append(index)
    return [ordered[i].user_id for i in chosen]


def naive(ps: Sequence[Participant]) -> tuple[list[str], str]:
    ordered = order_participants(ps)
    root = _naive_root(merkle_leaves(ordered))
    return naive_select(ordered, derive_seed(SECRET, root)), root


def best_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ps = make_participants(PARTICIPANTS)
    proof = optimized(ps)
    winners, root = naive(ps)
    assert root == proof.merkle_root, "both implementations must commit to the same root"
    assert len(proof.winners) == WINNERS and len(proof.backups) == WINNERS // 2
    assert len(set(winners)) == len(winners) == WINNERS + WINNERS // 2

    ordered = order_participants(ps)
    wanted_backups = WINNERS // 2
    print(
        f"{PARTICIPANTS:,} participants (weights 1..20, {proof.total_effective_tickets:,} "
        f"tickets), {WINNERS:,} winners + {wanted_backups:,} backups"
    )
    comparisons = [
        (
            "draw + Merkle tree (order, leaves, tree, seed, selection)",
            lambda: optimized(ps),
            lambda: naive(ps),
        ),
        (
            "selection only (same ordered participants and seed)",
            lambda: draw(ordered, WINNERS, wanted_backups, proof.seed),
            lambda: naive_select(ordered, proof.seed),
        ),
    ]
    goal_met = True
    for title, fast, slow in comparisons:
        print(title)
        (fast_s, fast_m), (slow_s, slow_m) = (
            (best_time(fn, args.repeat), peak_mib(fn)) for fn in (fast, slow)
        )
        print(f"  optimized (Fenwick)        {fast_s * 1000:8.1f} ms   peak {fast_m:7.1f} MiB")
        print(f"  naive (ticket expansion)   {slow_s * 1000:8.1f} ms   peak {slow_m:7.1f} MiB")
        print(
            f"  naive / optimized          time x{slow_s / fast_s:.2f}, "
            f"memory x{slow_m / fast_m:.2f}"
        )
        goal_met = goal_met and fast_s < 0.5 and fast_m < 100
    verdict = "met" if goal_met else "NOT met"
    print(f"goal (< 0.5 s and < 100 MB for draw + tree): {verdict}")


if __name__ == "__main__":
    main()
