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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import attrgetter

from drop.domain.merkle import MerkleTree, leaf_hash, leaf_text

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
    """One entrant of a draw, their weight and, on a drop with variants, the variant ids
    they would accept, best first (empty on a drop without variants)."""

    user_id: str
    effective_tickets: int
    ranking: tuple[str, ...] = ()


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
    return [
        leaf_hash(leaf_text(p.user_id, p.effective_tickets, i, p.ranking))
        for i, p in enumerate(ordered)
    ]


def merkle_tree(ordered: Sequence[Participant]) -> MerkleTree:
    """The Merkle tree over the canonically ordered participants."""
    sha, prefix = hashlib.sha256, b"\x00"
    # Same leaves as merkle_leaves(), inlined and kept raw: this is the hot loop of a draw.
    if any(p.ranking for p in ordered):
        digests = [
            sha(
                prefix + f"{p.user_id}:{p.effective_tickets}:{i}:{','.join(p.ranking)}".encode()
            ).digest()
            if p.ranking
            else sha(prefix + f"{p.user_id}:{p.effective_tickets}:{i}".encode()).digest()
            for i, p in enumerate(ordered)
        ]
    else:
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
    wanted = max(winner_count, 0) + max(backups, 0)
    picks = [ordered[i].user_id for i in itertools.islice(lottery_order(ordered, seed_hex), wanted)]
    cut = max(winner_count, 0)
    return DrawResult(winners=tuple(picks[:cut]), backups=tuple(picks[cut:]))


def lottery_order(ordered: Sequence[Participant], seed_hex: str) -> Iterator[int]:
    """The seeded weighted order, lazily: indices into ``ordered``, each participant with a
    positive weight once. Its first k picks are those of ``draw`` for any k."""
    weights = [p.effective_tickets for p in ordered]
    tree = FenwickTree(weights)
    stream = RandomStream(seed_hex)
    for _ in range(sum(1 for w in weights if w > 0)):
        index = tree.find(stream.next_below(tree.total))
        tree.update(index, -weights[index])
        yield index


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
