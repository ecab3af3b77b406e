"""The provably fair draw: commitment, seed, weighted selection and its published proof.

Algorithm ``sha256-ctr-fenwick-wswor/v2``, precisely enough for an outside verifier (v1, the
same without a beacon, is still verified):

1. Participants are sorted by ``userId`` (Unicode code point order); leaf ``i`` is
   ``sha256(0x00 || "userId:effectiveTickets:i")`` and the Merkle root is built as in
   :mod:`drop.domain.merkle`.
2. ``seed = sha256(b"product-drop/seed/v2" || 0x00 || secret || root || beacon)`` (raw
   bytes), ``beacon`` being the committed drand round's 32-byte randomness, or no bytes at
   all when the draw fell back (see :mod:`drop.domain.beacon`). v1:
   ``sha256(b"product-drop/seed/v1" || 0x00 || secret || root)``.
3. Random stream: block ``i`` (from 0) is ``sha256(seed || i as 8-byte big endian)``; the
   blocks are concatenated into one byte stream consumed left to right.
4. ``below(n)``: with ``b = bit_length(n - 1)`` (no bytes used when b = 0), read
   ``ceil(b / 8)`` bytes as a big-endian integer, keep its low ``b`` bits, retry until the
   value is ``< n`` (rejection sampling: no modulo bias).
5. Weighted selection without replacement: ``t = below(total remaining weight)``; the pick
   is the first participant (canonical order) whose running weight sum exceeds ``t``; its
   weight is then set to 0. Repeat for winners, then backups. Zero weight never wins.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import attrgetter

from drop.domain.beacon import BeaconRecord, check_record
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

ALGORITHM = "sha256-ctr-fenwick-wswor/v2"
ALGORITHM_V1 = "sha256-ctr-fenwick-wswor/v1"
SECRET_BYTES = 32
_SEED_DOMAIN_V1 = b"product-drop/seed/v1\x00"
_SEED_DOMAIN = b"product-drop/seed/v2\x00"


def new_secret_hex(random_bytes: bytes) -> str:
    """Hex of a fresh 32-byte secret (pass ``secrets.token_bytes(32)``)."""
    if len(random_bytes) != SECRET_BYTES:
        raise ValueError(f"the secret must be {SECRET_BYTES} bytes, got {len(random_bytes)}")
    return random_bytes.hex()


def commitment(secret_hex: str) -> str:
    """``sha256(secret)`` in hex, published before registration opens."""
    return hashlib.sha256(bytes.fromhex(secret_hex)).hexdigest()


def derive_seed(secret_hex: str, merkle_root: str, beacon: bytes | None = None) -> str:
    """Seed of the draw: the revealed secret, the participants' Merkle root and the beacon's
    randomness (``b""`` after a fallback); ``None`` gives the v1 seed, without a beacon."""
    committed = bytes.fromhex(secret_hex) + bytes.fromhex(merkle_root)
    if beacon is None:
        return hashlib.sha256(_SEED_DOMAIN_V1 + committed).hexdigest()
    return hashlib.sha256(_SEED_DOMAIN + committed + beacon).hexdigest()


class RandomStream:
    """Counter-mode SHA-256 byte stream over the full 32-byte seed."""

    __slots__ = ("_buffer", "_counter", "_seed")

    def __init__(self, seed_hex: str) -> None:
        self._seed = bytes.fromhex(seed_hex)
        if len(self._seed) != 32:
            raise ValueError("the seed must be 32 bytes (64 hex characters)")
        self._counter = 0
        self._buffer = b""

    def read(self, count: int) -> bytes:
        """The next ``count`` bytes of the stream."""
        while len(self._buffer) < count:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:count], self._buffer[count:]
        return out

    def next_below(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` by rejection sampling (see the module docstring)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        bits = (n - 1).bit_length()
        if bits == 0:
            return 0
        size, mask = (bits + 7) // 8, (1 << bits) - 1
        while True:
            value = int.from_bytes(self.read(size), "big") & mask
            if value < n:
                return value


class FenwickTree:
    """Binary indexed tree over non-negative integer weights (0-based indices)."""

    __slots__ = ("_size", "_top", "_total", "_tree")

    def __init__(self, weights: Sequence[int]) -> None:
        size = len(weights)
        tree = [0, *weights]
        # O(n) build: push each node's partial sum to its parent once.
        for i in range(1, size + 1):
            parent = i + (i & -i)
            if parent <= size:
                tree[parent] += tree[i]
        self._tree = tree
        self._size = size
        self._total = sum(weights)
        self._top = 1 << size.bit_length() if size else 0

    @property
    def total(self) -> int:
        """Sum of all weights."""
        return self._total

    def update(self, i: int, delta: int) -> None:
        """Add ``delta`` to the weight at index ``i``."""
        self._total += delta
        i += 1
        tree, size = self._tree, self._size
        while i <= size:
            tree[i] += delta
            i += i & -i

    def find(self, target: int) -> int:
        """Smallest index whose inclusive prefix sum is greater than ``target``."""
        if not 0 <= target < self._total:
            raise ValueError(f"target {target} out of range [0, {self._total})")
        tree, size = self._tree, self._size
        pos, step = 0, self._top
        while step:
            nxt = pos + step
            if nxt <= size and tree[nxt] <= target:
                pos = nxt
                target -= tree[nxt]
            step >>= 1
        return pos


@dataclass(frozen=True)
class Participant:
    """One entrant of a draw and their weight."""

    user_id: str
    effective_tickets: int


@dataclass(frozen=True)
class DrawResult:
    """Winners then ordered backups, as user ids."""

    winners: tuple[str, ...]
    backups: tuple[str, ...]


def _exact(value: float) -> Fraction:
    return Fraction(repr(float(value)))


def backup_count(winner_count: int, participant_count: int, backup_multiplier: float) -> int:
    """``min(participants - winners, ceil(winners * multiplier) - winners)``, never negative.

    The product is computed exactly (10 * 1.1 is 11, not 11.000000000000002 → 12).
    """
    wanted = math.ceil(winner_count * _exact(backup_multiplier)) - winner_count
    return max(0, min(participant_count - winner_count, wanted))


def order_participants(ps: Iterable[Participant]) -> list[Participant]:
    """Canonical order: by user id. Raise ValueError on duplicate users or negative weight."""
    ordered = sorted(ps, key=attrgetter("user_id"))
    for prev, cur in itertools.pairwise(ordered):
        if prev.user_id == cur.user_id:
            raise ValueError(f"participant {cur.user_id!r} appears twice")
    for p in ordered:
        if p.effective_tickets < 0:
            raise ValueError(f"participant {p.user_id!r} has negative tickets")
    return ordered


def merkle_leaves(ordered: Sequence[Participant]) -> list[str]:
    """Hex leaf hashes, the index being the position in canonical order."""
    return [leaf_hash(leaf_text(p.user_id, p.effective_tickets, i)) for i, p in enumerate(ordered)]


def merkle_tree(ordered: Sequence[Participant]) -> MerkleTree:
    """The Merkle tree over the canonically ordered participants."""
    sha, prefix = hashlib.sha256, b"\x00"
    # Same leaves as merkle_leaves(), inlined and kept raw: this is the hot loop of a draw.
    digests = [
        sha(prefix + f"{p.user_id}:{p.effective_tickets}:{i}".encode()).digest()
        for i, p in enumerate(ordered)
    ]
    return MerkleTree.from_leaf_digests(digests)


def draw(
    ordered: Sequence[Participant], winner_count: int, backups: int, seed_hex: str
) -> DrawResult:
    """Weighted selection without replacement in O(N log N); nobody is picked twice.

    Fewer picks are made when fewer participants have a positive weight.
    """
    weights = [p.effective_tickets for p in ordered]
    tree = FenwickTree(weights)
    stream = RandomStream(seed_hex)
    eligible = sum(1 for w in weights if w > 0)
    picks: list[str] = []
    for _ in range(min(max(winner_count, 0) + max(backups, 0), eligible)):
        index = tree.find(stream.next_below(tree.total))
        picks.append(ordered[index].user_id)
        tree.update(index, -weights[index])
    cut = max(winner_count, 0)
    return DrawResult(winners=tuple(picks[:cut]), backups=tuple(picks[cut:]))


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


def expected_counts(
    inventory: int, backup_multiplier: float, weights: Sequence[int]
) -> tuple[int, int]:
    """(winners, backups) a draw must publish: ``min(inventory, participants)`` winners and
    :func:`backup_count` backups, both capped by the participants with a positive weight."""
    n = len(weights)
    winners = min(max(inventory, 0), n)
    backups = backup_count(winners, n, backup_multiplier)
    picks = min(winners + backups, sum(1 for w in weights if w > 0))
    return min(winners, picks), picks - min(winners, picks)


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


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of verifying a published proof; ``problems`` are plain sentences."""

    ok: bool
    problems: tuple[str, ...]


def _is_hex32(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def _check_commitment(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.secret):
        return ["The revealed secret is not 32 bytes of hex."]
    if commitment(proof.secret) != proof.commitment.lower():
        return ["The commitment is not sha256 of the revealed secret."]
    return []


def _check_participants(proof: LotteryProof) -> list[str]:
    problems: list[str] = []
    ps = proof.participants
    if proof.participant_count != len(ps):
        problems.append(
            f"participantCount is {proof.participant_count} but {len(ps)} participants are listed."
        )
    if any(a.user_id >= b.user_id for a, b in itertools.pairwise(ps)):
        problems.append("Participants are not in canonical order (sorted, unique userIds).")
    if any(p.effective_tickets < 0 for p in ps):
        problems.append("A participant has a negative number of effective tickets.")
    total = sum(p.effective_tickets for p in ps)
    if proof.total_effective_tickets != total:
        problems.append(
            f"totalEffectiveTickets is {proof.total_effective_tickets} but the participants "
            f"add up to {total}."
        )
    return problems


def _check_merkle(proof: LotteryProof) -> list[str]:
    if merkle_tree(proof.participants).root != proof.merkle_root.lower():
        return ["The Merkle root recomputed from the participants does not match."]
    return []


def _check_seed(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.merkle_root) or not _is_hex32(proof.seed):
        return ["The Merkle root or the seed is not 32 bytes of hex."]
    if not _is_hex32(proof.secret):
        return ["The seed cannot be recomputed without a valid secret."]
    if derive_seed(proof.secret, proof.merkle_root, proof.seed_beacon) != proof.seed.lower():
        if proof.seed_beacon:
            return ["The seed is not derived from the secret, the Merkle root and the beacon."]
        return ["The seed is not derived from the secret and the Merkle root."]
    return []


def _check_beacon(proof: LotteryProof) -> list[str]:
    if proof.algorithm == ALGORITHM_V1:
        return []
    if proof.beacon is None:
        return [f"A {ALGORITHM} proof must carry its beacon round."]
    return check_record(proof.beacon, proof.parameters.registration_end, proof.timestamp)


def _counts(proof: LotteryProof) -> tuple[int, int] | None:
    """The counts the rules give for this proof, or None when it lacks the parameters."""
    params = proof.parameters
    if params.inventory is None or params.backup_multiplier is None:
        return None
    weights = [p.effective_tickets for p in proof.participants]
    return expected_counts(params.inventory, params.backup_multiplier, weights)


def _check_parameters(proof: LotteryProof) -> list[str]:
    params = proof.parameters
    missing = params.missing()
    if missing:
        return [
            f"The proof does not carry {', '.join(missing)}: its winner and backup counts "
            "cannot be checked against the drop's rules."
        ]
    problems: list[str] = []
    counts = _counts(proof)
    assert counts is not None and params.registration_end is not None
    winners, backups = counts
    rule = (
        f"min(inventory {params.inventory}, participants {len(proof.participants)}) = "
        f"{winners} winners and {backups} backups (backup multiplier "
        f"{params.backup_multiplier})"
    )
    for label, listed, declared, expected in (
        ("winners", len(proof.winners), params.winner_count, winners),
        ("backups", len(proof.backups), params.backup_count, backups),
    ):
        if listed != expected:
            how = "shortened" if listed < expected else "padded"
            problems.append(
                f"The list of {label} is {how}: {listed} listed, but the rules give {rule}."
            )
        if declared != expected:
            problems.append(f"The declared number of {label} is {declared}; the rules give {rule}.")
    if (
        params.registration_start is not None
        and params.registration_start > params.registration_end
    ):
        problems.append("registrationStart is after registrationEnd.")
    if proof.timestamp < params.registration_end:
        problems.append(
            f"The draw ran at {proof.timestamp}, before registration closed at "
            f"{params.registration_end}."
        )
    return problems


def _check_selection(proof: LotteryProof) -> list[str]:
    if not _is_hex32(proof.seed):
        return ["The winners cannot be recomputed without a valid seed."]
    picked = proof.winners + proof.backups
    if len(set(picked)) != len(picked):
        return ["Somebody appears twice among the winners and backups."]
    try:
        ordered = order_participants(proof.participants)
    except ValueError as exc:
        return [f"The winners cannot be recomputed: {exc}."]
    winners, backups = _counts(proof) or (len(proof.winners), len(proof.backups))
    result = draw(ordered, winners, backups, proof.seed.lower())
    problems: list[str] = []
    if result.winners != proof.winners:
        problems.append("The winners recomputed from the seed do not match the published ones.")
    if result.backups != proof.backups:
        problems.append("The backups recomputed from the seed do not match the published ones.")
    return problems


CHECKS = (
    ("commitment", _check_commitment),
    ("participants", _check_participants),
    ("merkle root", _check_merkle),
    ("beacon", _check_beacon),
    ("seed", _check_seed),
    ("counts and window", _check_parameters),
    ("winners and backups", _check_selection),
)


def check_proof(proof: LotteryProof) -> list[tuple[str, tuple[str, ...]]]:
    """Each named check of a proof with its problems (empty when the check passed)."""
    if proof.algorithm not in (ALGORITHM, ALGORITHM_V1):
        problem = f"Unsupported algorithm {proof.algorithm!r} (expected {ALGORITHM!r})."
        return [("algorithm", (problem,))]
    return [("algorithm", ())] + [(name, tuple(check(proof))) for name, check in CHECKS]


def verify_proof(proof: LotteryProof) -> VerifyReport:
    """Recompute commitment, Merkle root, seed, winners and backups of a published proof.

    Winners and backups must be exactly the first picks of the seeded sequence, in order,
    and exactly as many as the published inventory and backup multiplier give: a list cut
    short or padded at its end fails, as does a draw timed before registration closed.
    """
    problems = tuple(p for _, found in check_proof(proof) for p in found)
    return VerifyReport(ok=not problems, problems=problems)
