"""A proof checked against what its drop committed to at creation.

A proof alone can be rewritten whole by whoever publishes it: drop the beacon and call the
draw v1, claim a fallback, swap the receipt key, and recompute the seed and winners to
match. What cannot be rewritten is what was published before anyone registered: the drop's
status, with ``lotteryCommitment = sha256(secret)`` and, since the beacon exists, the terms
of the draw in its ``beacon`` block: the chain and round, ``algorithm``, ``maxWaitMs`` (how
long past the round's time the draw waits before a fallback) and ``receiptKey``. Drops from
before the beacon published no ``beacon`` block; their v1 proofs stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drop.domain import beacon
from drop.domain.beacon import Chain, check_fallback
from drop.domain.lottery.drawing import ALGORITHM
from drop.domain.lottery.proof import LotteryProof
from drop.domain.receipts import ReceiptKey


@dataclass(frozen=True)
class Terms:
    """The draw terms a drop's ``beacon`` block names (None: published before that term)."""

    chain: Chain
    round: int
    algorithm: str
    max_wait_ms: int | None
    receipt_key: ReceiptKey | None

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> Terms:
        number, algorithm, key = d.get("round"), d.get("algorithm", ALGORITHM), d.get("receiptKey")
        if type(number) is not int or not isinstance(algorithm, str):
            raise ValueError("the committed beacon needs an integer round and a string algorithm")
        if key is not None and not isinstance(key, Mapping):
            raise ValueError("the committed receiptKey must be an object")
        return cls(
            Chain.from_wire(d),
            number,
            algorithm,
            beacon.max_wait_ms(d),
            ReceiptKey.from_wire(key) if key is not None else None,
        )


@dataclass(frozen=True)
class Commitment:
    """What a drop published at creation: its lottery commitment and, if any, its terms."""

    lottery_commitment: str
    terms: Terms | None

    @classmethod
    def from_status(cls, d: Mapping[str, object]) -> Commitment:
        """Parse a drop's status (the `/api/drop/{id}/status` answer or an SSE snapshot)."""
        commitment, block = d.get("lotteryCommitment"), d.get("beacon")
        if not isinstance(commitment, str):
            raise ValueError("the drop status has no string 'lotteryCommitment'")
        if block is not None and not isinstance(block, Mapping):
            raise ValueError("the drop status field 'beacon' must be an object or null")
        return cls(commitment.lower(), Terms.from_wire(block) if block is not None else None)


def _downgrade(terms: Terms, proof: LotteryProof) -> list[str]:
    promised = f"round {terms.round} of chain {terms.chain.chain_hash} ({terms.algorithm})"
    if proof.algorithm != terms.algorithm:
        return [
            f"DOWNGRADE: the drop committed to {promised}, but the proof says "
            f"{proof.algorithm}{' without a beacon' if proof.beacon is None else ''}."
        ]
    record = proof.beacon
    if record is None:
        return [f"DOWNGRADE: the drop committed to {promised}, but the proof carries no beacon."]
    found: list[str] = []
    if record.chain != terms.chain:
        found.append(
            f"The proof's beacon chain {record.chain.chain_hash} is not the chain "
            f"{terms.chain.chain_hash} committed at creation."
        )
    if record.round != terms.round:
        found.append(
            f"The proof's beacon round {record.round} is not round {terms.round} committed at "
            "creation."
        )
    return found


def _max_wait(terms: Terms, proof: LotteryProof) -> list[str]:
    record = proof.beacon
    if terms.max_wait_ms is None or record is None:
        return []
    found: list[str] = []
    if record.max_wait_ms is not None and record.max_wait_ms != terms.max_wait_ms:
        found.append(
            f"The proof's maxWaitMs {record.max_wait_ms} is not the {terms.max_wait_ms} ms "
            "committed at creation."
        )
    # Judge the fallback by the committed wait, whatever the proof claims.
    committed = beacon.BeaconRecord(
        record.chain, terms.round, record.status, max_wait_ms=terms.max_wait_ms
    )
    return found + check_fallback(committed, proof.timestamp)


def key_swap(committed: ReceiptKey | None, published: ReceiptKey | None) -> str | None:
    """The sentence naming a receipt key swap, or None when the keys agree (or one is
    unknown)."""
    if committed is None or published is None or committed == published:
        return None
    return (
        f"RECEIPT KEY SWAPPED: the proof publishes receipt key {published.key_id}, but the "
        f"trusted key (committed at creation, or given with --key) is {committed.key_id}."
    )


def check_against(proof: LotteryProof, commitment: Commitment) -> list[str]:
    """Every way ``proof`` offers less than ``commitment`` promised (empty: none)."""
    found: list[str] = []
    if proof.commitment.lower() != commitment.lottery_commitment:
        found.append(
            f"The proof's commitment {proof.commitment} is not the lotteryCommitment "
            f"{commitment.lottery_commitment} published at creation."
        )
    terms = commitment.terms
    if terms is None:
        return found
    found += _downgrade(terms, proof) + _max_wait(terms, proof)
    swapped = key_swap(terms.receipt_key, proof.receipt_key)
    if swapped:
        found.append(swapped)
    elif terms.receipt_key is not None and proof.receipt_key is None:
        found.append(
            f"The proof publishes no receipt key; the drop committed to {terms.receipt_key.key_id}."
        )
    return found
