"""The published forms of a draw: its parameters, the lottery proof and inclusion proofs.

Each parses its wire form (``from_wire``, a ValueError naming the bad field) and writes it
back (``to_wire``); :func:`run_draw` runs a whole draw and returns its proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from drop.domain.beacon import BeaconRecord
from drop.domain.lottery.allocation import Allocation, Variant, allocate
from drop.domain.lottery.drawing import (
    ALGORITHM,
    ALGORITHM_V1,
    DrawResult,
    Participant,
    backup_count,
    commitment,
    derive_seed,
    draw,
    lottery_order,
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
        ranking = _str_list(item, "variants") if "variants" in item else ()
        out.append(Participant(_str(item, "userId"), _int(item, "effectiveTickets"), ranking))
    return tuple(out)


def _participant_wire(p: Participant) -> dict[str, object]:
    wire: dict[str, object] = {"userId": p.user_id, "effectiveTickets": p.effective_tickets}
    if p.ranking:
        wire["variants"] = list(p.ranking)
    return wire


def _variants(d: Mapping[str, object]) -> tuple[Variant, ...] | None:
    value = d.get("variants")
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValueError("proof field 'variants' must be a list")
    out: list[Variant] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("each variant must be an object {id, label, inventory}")
        label = item.get("label", "")
        out.append(Variant(_str(item, "id"), str(label), _int(item, "inventory")))
    return tuple(out)


def _allocation(d: Mapping[str, object]) -> dict[str, str]:
    value = d.get("allocation")
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("proof field 'allocation' must map user ids to variant ids")
    return dict(value)


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
    # A drop with sizes: its variants as configured, and the variant each winner and backup
    # was given; None and empty on a drop without (whose wire form then has neither).
    variants: tuple[Variant, ...] | None = None
    allocation: Mapping[str, str] = field(default_factory=dict)

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
            "participants": [_participant_wire(p) for p in self.participants],
            **self._sizes_wire(),
        }

    def _sizes_wire(self) -> dict[str, object]:
        if self.variants is None:
            return {}
        return {
            "variants": [v.to_wire() for v in self.variants],
            "allocation": dict(self.allocation),
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
            variants=_variants(d),
            allocation=_allocation(d),
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
    variants: Sequence[Variant] | None = None,
) -> LotteryProof:
    """Run the whole draw: order, Merkle root, seed, winners, backups and the proof.

    With a beacon the draw is v2 (its randomness, if verified, is in the seed); without, v1.
    With variants, the lottery order is handed out by :func:`allocation.allocate`.
    """
    ordered = order_participants(participants)
    root = merkle_tree(ordered).root
    seed = derive_seed(secret_hex, root, beacon.randomness if beacon else None)
    if variants is None:
        winner_count = min(max(inventory, 0), len(ordered))
        result = draw(
            ordered, winner_count, backup_count(winner_count, len(ordered), backup_multiplier), seed
        )
        given: Mapping[str, str] = {}
    else:
        sized = allocate_sizes(ordered, seed, variants, backup_multiplier)
        result, given = DrawResult(sized.winners, sized.backups), sized.variant_of
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
        variants=None if variants is None else tuple(variants),
        allocation=given,
    )


def allocate_sizes(
    ordered: Sequence[Participant], seed_hex: str, variants: Sequence[Variant], multiplier: float
) -> Allocation:
    """The allocation of a drop with variants: its lottery order walked by
    :func:`allocation.allocate`, the backups counted from the winners as for one size."""
    count = len(ordered)
    return allocate(
        ((ordered[i].user_id, ordered[i].ranking) for i in lottery_order(ordered, seed_hex)),
        {v.id: v.inventory for v in variants},
        lambda winners: backup_count(winners, count, multiplier),
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
    ranking: tuple[str, ...] = ()

    @property
    def leaf(self) -> str:
        """The committed leaf text ``userId:effectiveTickets:index`` (``:M,L`` after it on a
        drop with variants)."""
        return leaf_text(self.user_id, self.effective_tickets, self.index, self.ranking)

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
        leaf: dict[str, object] = {
            "userId": self.user_id,
            "effectiveTickets": self.effective_tickets,
            "index": self.index,
        }
        if self.ranking:
            leaf["variants"] = list(self.ranking)
        return {
            "leaf": leaf,
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
            ranking=_str_list(leaf, "variants") if "variants" in leaf else (),
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
        leaf_hash=leaf_hash(leaf_text(member.user_id, tickets, index, member.ranking)),
        root=tree.root,
        steps=tuple(tree.proof(index)),
        ranking=member.ranking,
    )
