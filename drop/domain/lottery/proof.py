"""The published forms of a draw: its parameters and the lottery proof.

Each parses its wire form (``from_wire``, a ValueError naming the bad field) and writes it
back (``to_wire``); :func:`run_draw` runs a whole draw and returns its proof. Inclusion
proofs live in :mod:`.inclusion` (re-exported here), the field readers in
:mod:`.proof_fields`.
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
from drop.domain.lottery.inclusion import InclusionProof as InclusionProof
from drop.domain.lottery.inclusion import inclusion_at as inclusion_at
from drop.domain.lottery.inclusion import inclusion_proof as inclusion_proof
from drop.domain.lottery.proof_fields import (
    allocation_from_wire,
    beacon_from_wire,
    participant_wire,
    participants_from_wire,
    receipt_key_from_wire,
    variants_from_wire,
    wire_int,
    wire_opt_int,
    wire_opt_number,
    wire_str,
    wire_str_list,
)
from drop.domain.receipts import ReceiptKey


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
            inventory=wire_opt_int(d, "inventory"),
            backup_multiplier=wire_opt_number(d, "backupMultiplier"),
            registration_start=wire_opt_int(d, "registrationStart"),
            registration_end=wire_opt_int(d, "registrationEnd"),
            winner_count=wire_opt_int(d, "winnerCount"),
            backup_count=wire_opt_int(d, "backupCount"),
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
            "participants": [participant_wire(p) for p in self.participants],
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
            drop_id=wire_str(d, "dropId"),
            commitment=wire_str(d, "commitment"),
            secret=wire_str(d, "secret"),
            merkle_root=wire_str(d, "participantMerkleRoot"),
            participant_count=wire_int(d, "participantCount"),
            total_effective_tickets=wire_int(d, "totalEffectiveTickets"),
            seed=wire_str(d, "seed"),
            algorithm=wire_str(d, "algorithm"),
            timestamp=wire_int(d, "timestamp"),
            winners=wire_str_list(d, "winners"),
            backups=wire_str_list(d, "backupWinners"),
            participants=participants_from_wire(d),
            parameters=DrawParameters.from_wire(d),
            receipt_key=receipt_key_from_wire(d),
            beacon=beacon_from_wire(d),
            variants=variants_from_wire(d),
            allocation=allocation_from_wire(d),
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
