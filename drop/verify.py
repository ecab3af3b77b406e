"""Outside verifier of a published lottery proof.

Usage: ``python -m drop.verify proof.json`` (``-`` reads stdin). The file holds the wire
form of a lottery proof, or the API response ``{"available": true, "proof": {...}}``.
Exit status: 0 when every check passes, 1 on any mismatch, 2 when the input is unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TextIO

from drop.domain.lottery import LotteryProof, check_proof

EXIT_OK, EXIT_MISMATCH, EXIT_UNREADABLE = 0, 1, 2


def _read(path: str) -> object:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_proof(data: object) -> LotteryProof:
    """Parse a proof, unwrapping an API response; ValueError when it is not one."""
    if isinstance(data, Mapping) and "proof" in data and "dropId" not in data:
        if data.get("available") is False:
            raise ValueError("the response says the proof is not available yet")
        data = data["proof"]
    if not isinstance(data, Mapping):
        raise ValueError("the proof must be a JSON object")
    return LotteryProof.from_wire(data)


def report(proof: LotteryProof, out: TextIO) -> bool:
    """Print one line per check and the problems found; True when all checks pass."""
    print(
        f"Drop {proof.drop_id}: {proof.participant_count} participants, "
        f"{len(proof.winners)} winners, {len(proof.backups)} backups",
        file=out,
    )
    all_ok = True
    for name, problems in check_proof(proof):
        print(f"  {name:<20} {'ok' if not problems else 'FAILED'}", file=out)
        for problem in problems:
            print(f"    - {problem}", file=out)
        all_ok = all_ok and not problems
    print(
        "VERIFIED: the draw is reproducible from the proof."
        if all_ok
        else "NOT VERIFIED: the proof does not match.",
        file=out,
    )
    return all_ok


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m drop.verify", description="Verify a published lottery proof."
    )
    parser.add_argument("proof", help="path to the proof JSON file, or - for stdin")
    args = parser.parse_args(argv)
    try:
        proof = load_proof(_read(args.proof))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a proof from {args.proof}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    return EXIT_OK if report(proof, sys.stdout) else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
