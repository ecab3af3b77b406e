"""Outside verifier of a published lottery proof or of one participant's inclusion proof.

Usage: ``python -m drop.verify proof.json`` (``-`` reads stdin). The file holds the wire
form of a lottery proof or of an inclusion proof, or the API response
``{"available": true, "proof": {...}}`` of either. Exit status: 0 when every check passes,
1 on any mismatch, 2 when the input is unreadable.

``python -m drop.verify proof.json --receipt receipt.json [--key HEX]`` also checks a signed
entry receipt (under ``--key``, the key from /api/fairness/key, or else the key the proof
publishes) and proves the entry's inclusion in the full proof (``?participants=true``), or
prints the evidence of its omission and exits 1.

``--drop status.json`` (the drop's `/api/drop/{id}/status` answer, best kept from before the
draw) checks the proof against what the drop committed to at creation: a proof downgraded
to v1 or stripped of its beacon, a fallback taken before the round's time plus the committed
wait, and a swapped receipt key are each refused by name. Receipts are then checked under
the committed key. Without it, a v1 proof verifies with a warning that only the drop's
commitment can rule out a downgrade.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TextIO

from drop.domain import beacon
from drop.domain.lottery import ALGORITHM_V1, InclusionProof, LotteryProof, check_proof
from drop.domain.proof_checks import Commitment, check_against
from drop.domain.receipt_check import Outcome, check_receipt
from drop.domain.receipts import Receipt, ReceiptKey

EXIT_OK, EXIT_MISMATCH, EXIT_UNREADABLE = 0, 1, 2


def _read(path: str) -> object:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_proof(data: object) -> LotteryProof | InclusionProof:
    """Parse a proof, unwrapping an API response; ValueError when it is not one."""
    if isinstance(data, Mapping) and "available" in data:
        if data.get("available") is False:
            raise ValueError("the response says the proof is not available yet")
        data = data.get("proof")
    if not isinstance(data, Mapping):
        raise ValueError("the proof must be a JSON object")
    if "leaf" in data:
        return InclusionProof.from_wire(data)
    return LotteryProof.from_wire(data)


def report_inclusion(proof: InclusionProof, out: TextIO) -> bool:
    """Print the recomputed leaf and whether it links to the root; True when it does."""
    print(f"Leaf {proof.leaf!r} (index {proof.index}), {len(proof.steps)} steps", file=out)
    ok = proof.verified()
    print(
        f"VERIFIED: the leaf is included under root {proof.root}."
        if ok
        else "NOT VERIFIED: the leaf does not link to the root.",
        file=out,
    )
    return ok


def report(proof: LotteryProof, out: TextIO, committed: Commitment | None = None) -> bool:
    """Print one line per check and the problems found; True when all checks pass."""
    print(
        f"Drop {proof.drop_id}: {proof.participant_count} participants, "
        f"{len(proof.winners)} winners, {len(proof.backups)} backup winners",
        file=out,
    )
    checks = check_proof(proof)
    if committed is not None:
        checks.append(("committed at creation", tuple(check_against(proof, committed))))
    all_ok = True
    for name, problems in checks:
        print(f"  {name:<20} {'ok' if not problems else 'FAILED'}", file=out)
        for problem in problems:
            print(f"    - {problem}", file=out)
        all_ok = all_ok and not problems
    report_beacon(proof, out, committed)
    print(
        "VERIFIED: the draw is reproducible from the proof."
        if all_ok
        else "NOT VERIFIED: the proof does not match.",
        file=out,
    )
    return all_ok


def report_beacon(proof: LotteryProof, out: TextIO, committed: Commitment | None = None) -> None:
    """Say which chain and round the seed used, and warn loudly about a fallback."""
    record = proof.beacon
    if record is None:
        print("  (no beacon: a v1 proof, seeded by the secret and the Merkle root only)", file=out)
    if proof.algorithm == ALGORITHM_V1 and committed is None:
        print(
            "  WARNING: only drops created before the beacon may be drawn v1; pass "
            "--drop status.json to check this drop committed to no beacon round.",
            file=out,
        )
    if record is None:
        return
    chain = record.chain
    known = beacon.KNOWN_CHAINS.get(chain.public_key)
    print(
        f"  Beacon: round {record.round} of chain {chain.chain_hash} ({chain.scheme}), "
        f"published at {chain.round_time_ms(record.round)} ms; status {record.status}",
        file=out,
    )
    print(
        f"  Chain key: {known}"
        if known
        else "  Chain key: not a public chain this verifier knows (a test chain?): compare "
        "publicKey with the chain's published key",
        file=out,
    )
    if record.status == beacon.FALLBACK:
        print(
            "  WARNING: FALLBACK: drawn WITHOUT the beacon, so the operator could have known "
            f"the result in advance. Reason given: {record.reason}",
            file=out,
        )


def report_receipt(
    proof: LotteryProof, receipt: Receipt, key: ReceiptKey | None, out: TextIO
) -> bool:
    """Print the receipt's verdict (with the evidence when it was left out); True when the
    entry is in the tree."""
    verdict = check_receipt(proof, receipt, key)
    print(f"Receipt: {verdict.outcome.value.upper()}", file=out)
    for line in verdict.lines:
        print(f"  {line}", file=out)
    if verdict.outcome is Outcome.OMITTED:
        print("  The signed receipt:", file=out)
        print("  " + json.dumps(receipt.to_wire(), sort_keys=True), file=out)
    return verdict.outcome is Outcome.INCLUDED and not verdict.key_swapped


def _key(value: str | None) -> ReceiptKey | None:
    """A key given as hex, or as a file holding `{publicKey, ...}` (the /api/fairness/key
    answer)."""
    if value is None:
        return None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return ReceiptKey(value.lower())
    data = _read(value)
    if not isinstance(data, Mapping):
        raise ValueError("the key file must hold a JSON object {publicKey, ...}")
    return ReceiptKey.from_wire(data)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m drop.verify", description="Verify a published lottery proof."
    )
    parser.add_argument("proof", help="path to the proof JSON file, or - for stdin")
    parser.add_argument("--receipt", help="a signed entry receipt (JSON) to check")
    parser.add_argument("--key", help="receipt public key: 64 hex characters or a JSON file")
    parser.add_argument(
        "--drop",
        help="the drop's status JSON (what it committed to at creation) to hold the proof to",
    )
    args = parser.parse_args(argv)
    try:
        proof = load_proof(_read(args.proof))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a proof from {args.proof}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if isinstance(proof, InclusionProof):
        return EXIT_OK if report_inclusion(proof, sys.stdout) else EXIT_MISMATCH
    committed = None
    if args.drop is not None:
        try:
            status = _read(args.drop)
            if not isinstance(status, Mapping):
                raise ValueError("the drop status must be a JSON object")
            committed = Commitment.from_status(status)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the drop status: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    receipt, key = None, None
    if args.receipt is not None:
        try:
            data = _read(args.receipt)
            if not isinstance(data, Mapping):
                raise ValueError("the receipt must be a JSON object")
            receipt, key = Receipt.from_wire(data), _key(args.key)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the receipt or key: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    ok = report(proof, sys.stdout, committed)
    if receipt is not None:
        if key is None and committed is not None and committed.terms is not None:
            key = committed.terms.receipt_key
        ok = report_receipt(proof, receipt, key, sys.stdout) and ok
    return EXIT_OK if ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
