"""Benchmark sizes: a draw of 100,000 entrants over 5 sizes against the single-size draw of
the same entrants (same tickets, same run).

Run: ``.venv/bin/python -m bench.sizes``. Both draws are whole ``run_draw`` calls (order,
Merkle tree, seed, selection, proof); the sized one also hashes each ranked list into its
leaf and walks the lottery order until every size is sold out. Times are the best of
several runs, taken in turns; the ratio is printed.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
from collections.abc import Callable

from drop.domain.lottery import LotteryProof, Participant, Variant, run_draw

ENTRANTS = 100_000
SIZES = (
    Variant("XS", "Extra small", 100),
    Variant("S", "Small", 250),
    Variant("M", "Medium", 300),
    Variant("L", "Large", 250),
    Variant("XL", "Extra large", 100),
)
BACKUP_MULTIPLIER = 1.5
SECRET = hashlib.sha256(b"bench-sizes").hexdigest()


def ranked(rng: random.Random) -> tuple[str, ...]:
    """A first choice around M, sometimes a neighbouring size or two after it."""
    ids = [v.id for v in SIZES]
    first = min(len(ids) - 1, max(0, round(rng.gauss(2, 1))))
    more = [i for i in (first + 1, first - 1) if 0 <= i < len(ids) and rng.random() < 0.5]
    return tuple(ids[i] for i in (first, *more))


def entrants(count: int, seed: int = 23) -> tuple[list[Participant], list[Participant]]:
    """The same entrants twice: without a ranking (one size) and with one (five sizes)."""
    rng = random.Random(seed)
    plain, sized = [], []
    for i in range(count):
        user, tickets = f"user-{i:06d}", rng.randint(1, 20)
        plain.append(Participant(user, tickets))
        sized.append(Participant(user, tickets, ranked(rng)))
    return plain, sized


def timed(fn: Callable[[], LotteryProof]) -> tuple[float, LotteryProof]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(
    runs: int, first: Callable[[], LotteryProof], second: Callable[[], LotteryProof]
) -> tuple[tuple[float, LotteryProof], tuple[float, LotteryProof]]:
    """The best time of each, run in turns so a busy moment of the machine hits both."""
    a = [timed(first)]
    b = [timed(second)]
    for _ in range(runs - 1):
        a.append(timed(first))
        b.append(timed(second))
    return min(a, key=lambda t: t[0]), min(b, key=lambda t: t[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sizes")
    parser.add_argument("--entrants", type=int, default=ENTRANTS)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    plain, sized = entrants(args.entrants)
    inventory = sum(v.inventory for v in SIZES)

    def one_size() -> LotteryProof:
        return run_draw("bench", SECRET, plain, inventory, BACKUP_MULTIPLIER, 0)

    def five_sizes() -> LotteryProof:
        return run_draw("bench", SECRET, sized, inventory, BACKUP_MULTIPLIER, 0, variants=SIZES)

    (base, single), (took, proof) = best_of(args.runs, one_size, five_sizes)
    print(f"entrants {args.entrants}, inventory {inventory} over {len(SIZES)} sizes")
    print(f"single-size draw: {base * 1000:8.1f} ms ({len(single.winners)} winners)")
    print(
        f"5-size draw:      {took * 1000:8.1f} ms ({len(proof.winners)} winners, "
        f"{len(proof.backups)} backups)"
    )
    print(f"ratio 5-size / single-size: {took / base:.2f}x")


if __name__ == "__main__":
    main()
