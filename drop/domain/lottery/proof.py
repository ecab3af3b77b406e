"""The published forms of a draw: its parameters, the lottery proof and inclusion proofs.

Each parses its wire form (``from_wire``, a ValueError naming the bad field) and writes it
back (``to_wire``); :func:`run_draw` runs a whole draw and returns its proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from drop.domain.beacon import BeaconRecord
from drop.domain.lottery.drawing import (
    ALGORITHM,
    ALGORITHM_V1,
    Participant,
    backup_count,
    commitment,
    derive_seed,
    draw,
    merkle_tree,
    order_participants,
)
from drop.domain.merkle import (
    MerkleTree,
    ProofStep,
    leaf_hash,
    leaf_text,
    proof_from_wire,
    proof_to_wire,
)
from drop.domain.merkle import verify_proof as verify_merkle_proof
from drop.domain.receipts import ReceiptKey


def _str(d: Mapping[str, object], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"proof field {key!r} must be a string")
    return value


def _int(d: Mapping[str, object], key: str) -> int:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"proof field {key!r} must be an integer")
    return value


def _opt_int(d: Mapping[str, object], key: str) -> int | None:
    return None if d.get(key) is None else _int(d, key)


def _opt_number(d: Mapping[str, object], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"proof field {key!r} must be a number")
    return float(value)


def _str_list(d: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = d.get(key)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"proof field {key!r} must be a list of strings")
    return tuple(value)


def _participants(d: Mapping[str, object]) -> tuple[Participant, ...]:
    value = d.get("participants")
    if not isinstance(value, list | tuple):
        raise ValueError("proof field 'participants' must be a list")
    out: list[Participant] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("each participant must be an object {userId, effectiveTickets}")
        out.append(Participant(_str(item, "userId"), _int(item, "effectiveTickets")))
    return tuple(out)


def _receipt_key(d: Mapping[str, object]) -> ReceiptKey | None:
    value = d.get("receiptKey")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("proof field 'receiptKey' must be an object")
    return ReceiptKey.from_wire(value)


def _beacon(d: Mapping[str, object]) -> BeaconRecord | None:
    value = d.get("beacon")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("proof field 'beacon' must be an object")
    return BeaconRecord.from_wire(value)


@dataclass(frozen=True)
class DrawParameters:
    """What the counts of a draw depend on; published so a list cut short or padded shows.

    Optional only so that proofs published before these fields existed still parse (the
    verifier then reports them missing).
    """

    inventory: int | None = None
    backup_multiplier: float | None = None
    registration_start: int | None = None
    registration_end: int | None = None
    winner_count: int | None = None
    backup_count: int | None = None

    def to_wire(self) -> dict[str, object]:
        return {
            "inventory": self.inventory,
            "backupMultiplier": self.backup_multiplier,
            "registrationStart": self.registration_start,
            "registrationEnd": self.registration_end,
            "winnerCount": self.winner_count,
            "backupCount": self.backup_count,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> DrawParameters:
        return cls(
            inventory=_opt_int(d, "inventory"),
            backup_multiplier=_opt_number(d, "backupMultiplier"),
            registration_start=_opt_int(d, "registrationStart"),
            registration_end=_opt_int(d, "registrationEnd"),
            winner_count=_opt_int(d, "winnerCount"),
            backup_count=_opt_int(d, "backupCount"),
        )

    def missing(self) -> list[str]:
        """Wire names of the fields this proof does not carry."""
        return [k for k, v in self.to_wire().items() if v is None]


@dataclass(frozen=True)
class LotteryProof:
    """Everything needed to recompute a draw from the outside."""

    drop_id: str
    commitment: str
    secret: str
    merkle_root: str
    participant_count: int
    total_effective_tickets: int
    seed: str
    algorithm: str
    timestamp: int
    winners: tuple[str, ...]
    backups: tuple[str, ...]
    participants: tuple[Participant, ...]
    parameters: DrawParameters = DrawParameters()
    # The key that signed the entry receipts, so a receipt can be checked against the proof.
    receipt_key: ReceiptKey | None = None
    # The public randomness mixed into the seed (algorithm v2); None in a v1 proof.
    beacon: BeaconRecord | None = None

    @property
    def seed_beacon(self) -> bytes | None:
        """The beacon bytes the seed mixes in: None for v1, b"" after a fallback."""
        if self.algorithm == ALGORITHM_V1 or self.beacon is None:
            return None
        return self.beacon.randomness

    def to_wire(self) -> dict[str, object]:
        """JSON-ready form with camelCase keys."""
        return {
            **self.parameters.to_wire(),
            "receiptKey": self.receipt_key.to_wire() if self.receipt_key else None,
            "beacon": self.beacon.to_wire() if self.beacon else None,
            "dropId": self.drop_id,
            "commitment": self.commitment,
            "secret": self.secret,
            "participantMerkleRoot": self.merkle_root,
            "participantCount": self.participant_count,
            "totalEffectiveTickets": self.total_effective_tickets,
            "seed": self.seed,
            "algorithm": self.algorithm,
            "timestamp": self.timestamp,
            "winners": list(self.winners),
            "backupWinners": list(self.backups),
            "participants": [
                {"userId": p.user_id, "effectiveTickets": p.effective_tickets}
                for p in self.participants
            ],
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> LotteryProof:
        """Parse the wire form; ValueError naming the first bad field."""
        return cls(
            drop_id=_str(d, "dropId"),
            commitment=_str(d, "commitment"),
            secret=_str(d, "secret"),
            merkle_root=_str(d, "participantMerkleRoot"),
            participant_count=_int(d, "participantCount"),
            total_effective_tickets=_int(d, "totalEffectiveTickets"),
            seed=_str(d, "seed"),
            algorithm=_str(d, "algorithm"),
            timestamp=_int(d, "timestamp"),
            winners=_str_list(d, "winners"),
            backups=_str_list(d, "backupWinners"),
            participants=_participants(d),
            parameters=DrawParameters.from_wire(d),
            receipt_key=_receipt_key(d),
            beacon=_beacon(d),
        )


def run_draw(
    drop_id: str,
    secret_hex: str,
    participants: Iterable[Participant],
    inventory: int,
    backup_multiplier: float,
    timestamp_ms: int,
    *,
    registration_start: int = 0,
    registration_end: int = 0,
    receipt_key: ReceiptKey | None = None,
    beacon: BeaconRecord | None = None,
) -> LotteryProof:
    """Run the whole draw: order, Merkle root, seed, winners, backups and the proof.

    With a beacon the draw is v2 (its randomness, if verified, is in the seed); without, v1.
    """
    ordered = order_participants(participants)
    root = merkle_tree(ordered).root
    seed = derive_seed(secret_hex, root, beacon.randomness if beacon else None)
    winner_count = min(max(inventory, 0), len(ordered))
    result = draw(
        ordered, winner_count, backup_count(winner_count, len(ordered), backup_multiplier), seed
    )
    parameters = DrawParameters(
        inventory=inventory,
        backup_multiplier=backup_multiplier,
        registration_start=registration_start,
        registration_end=registration_end,
        winner_count=len(result.winners),
        backup_count=len(result.backups),
    )
    return LotteryProof(
        drop_id=drop_id,
        commitment=commitment(secret_hex),
        secret=secret_hex,
        merkle_root=root,
        participant_count=len(ordered),
        total_effective_tickets=sum(p.effective_tickets for p in ordered),
        seed=seed,
        algorithm=ALGORITHM if beacon else ALGORITHM_V1,
        timestamp=timestamp_ms,
        winners=result.winners,
        backups=result.backups,
        participants=tuple(ordered),
        parameters=parameters,
        receipt_key=receipt_key,
        beacon=beacon,
    )


@dataclass(frozen=True)
class InclusionProof:
    """A participant's Merkle inclusion proof against the published root."""

    user_id: str
    index: int
    effective_tickets: int
    leaf_hash: str
    root: str
    steps: tuple[ProofStep, ...]

    @property
    def leaf(self) -> str:
        """The committed leaf text ``userId:effectiveTickets:index``."""
        return leaf_text(self.user_id, self.effective_tickets, self.index)

    def verified(self) -> bool:
        """The leaf hashes to ``leaf_hash`` and the siblings link it to the root."""
        return leaf_hash(self.leaf) == self.leaf_hash.lower() and verify_merkle_proof(
            self.leaf_hash.lower(), self.steps, self.root
        )

    def to_wire(self) -> dict[str, object]:
        """The shape of docs/contract.md, Proofs: ``{leaf: {userId, effectiveTickets,
        index}, leafHash, proof: [sibling hex, leaf to root], merkleRoot, verified}`` plus
        ``proofSides`` (the side of each sibling) and ``leafText``."""
        hashes, sides = proof_to_wire(self.steps)
        return {
            "leaf": {
                "userId": self.user_id,
                "effectiveTickets": self.effective_tickets,
                "index": self.index,
            },
            "leafText": self.leaf,
            "leafHash": self.leaf_hash,
            "proof": hashes,
            "proofSides": sides,
            "merkleRoot": self.root,
            "verified": self.verified(),
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> InclusionProof:
        """Parse the wire form; ValueError naming the first bad field."""
        leaf = d.get("leaf")
        if not isinstance(leaf, Mapping):
            raise ValueError("inclusion proof field 'leaf' must be an object")
        hashes, sides = d.get("proof"), d.get("proofSides")
        if not isinstance(hashes, list) or not isinstance(sides, list):
            raise ValueError("inclusion proof fields 'proof' and 'proofSides' must be lists")
        return cls(
            user_id=_str(leaf, "userId"),
            index=_int(leaf, "index"),
            effective_tickets=_int(leaf, "effectiveTickets"),
            leaf_hash=_str(d, "leafHash"),
            root=_str(d, "merkleRoot"),
            steps=tuple(proof_from_wire(hashes, sides)),
        )


def inclusion_proof(ordered: Sequence[Participant], user_id: str) -> InclusionProof | None:
    """Inclusion proof of ``user_id`` among canonically ordered participants, or None."""
    index = next((i for i, p in enumerate(ordered) if p.user_id == user_id), None)
    if index is None:
        return None
    return inclusion_at(ordered, merkle_tree(ordered), index)


def inclusion_at(ordered: Sequence[Participant], tree: MerkleTree, index: int) -> InclusionProof:
    """Inclusion proof of the participant at ``index`` from an already built tree: O(log N)."""
    member = ordered[index]
    tickets = member.effective_tickets
    return InclusionProof(
        user_id=member.user_id,
        index=index,
        effective_tickets=tickets,
        leaf_hash=leaf_hash(leaf_text(member.user_id, tickets, index)),
        root=tree.root,
        steps=tuple(tree.proof(index)),
    )
