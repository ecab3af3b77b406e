"""A SHA-256 Merkle tree committing to the participant list of a draw.

Leaves are ``sha256(0x00 || text)`` and inner nodes ``sha256(0x01 || left || right)``: the
distinct prefixes make it impossible to pass an inner node off as a leaf. When a level has
an odd number of nodes, the last one is promoted to the next level unchanged (it is not
hashed with itself), so its proof simply has no step for that level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
SIDES = ("left", "right")


def leaf_text(user_id: str, effective_tickets: int, index: int, ranking: Sequence[str] = ()) -> str:
    """The committed text of one participant: ``userId:effectiveTickets:index``, and on a
    drop with variants ``:`` and their ranked variant ids joined by ``,`` (``u:3:0:M,L``).
    Ids never hold ``:`` or ``,``, so the text reads back one way only."""
    text = f"{user_id}:{effective_tickets}:{index}"
    return f"{text}:{','.join(ranking)}" if ranking else text


def leaf_hash(text: str) -> str:
    """Hex leaf hash of ``text`` (with the 0x00 leaf prefix)."""
    return hashlib.sha256(_LEAF + text.encode()).hexdigest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Raw inner-node hash of two raw child hashes (with the 0x01 node prefix)."""
    return hashlib.sha256(_NODE + left + right).digest()


@dataclass(frozen=True)
class ProofStep:
    """One step of an inclusion proof; ``side`` is the side of the sibling."""

    hash: str
    side: str  # "left" or "right": side of the sibling


def _next_level(level: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    pairs = [sha(_NODE + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
    if len(level) % 2:
        pairs.append(level[-1])
    return pairs


class MerkleTree:
    """All levels of the tree as lists of raw 32-byte digests (leaves first)."""

    __slots__ = ("_levels",)

    def __init__(self, levels: list[list[bytes]]) -> None:
        self._levels = levels

    @classmethod
    def from_leaf_hashes(cls, hashes: Sequence[str]) -> MerkleTree:
        """Build the tree from hex leaf hashes in O(n) time."""
        return cls.from_leaf_digests([bytes.fromhex(h) for h in hashes])

    @classmethod
    def from_leaf_digests(cls, digests: list[bytes]) -> MerkleTree:
        """Build the tree from raw 32-byte leaf hashes in O(n) time (the list is kept)."""
        if any(len(d) != 32 for d in digests):
            raise ValueError("leaf hashes must be 32 bytes")
        level = digests
        levels = [level]
        while len(level) > 1:
            level = _next_level(level)
            levels.append(level)
        return cls(levels)

    @property
    def leaf_count(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    @property
    def root(self) -> str:
        """Hex root; ``sha256(b"")`` for an empty tree, the leaf itself for one leaf."""
        top = self._levels[-1]
        return top[0].hex() if top else EMPTY_ROOT

    def proof(self, index: int) -> list[ProofStep]:
        """Inclusion proof of leaf ``index``, from the leaf level up."""
        if not 0 <= index < self.leaf_count:
            raise IndexError(f"leaf index {index} out of range 0..{self.leaf_count - 1}")
        steps: list[ProofStep] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                side = "left" if sibling < index else "right"
                steps.append(ProofStep(hash=level[sibling].hex(), side=side))
            index //= 2
        return steps


def verify_proof(leaf_hash: str, proof: Sequence[ProofStep], root: str) -> bool:
    """True when ``proof`` links ``leaf_hash`` to ``root``; False on any malformed input."""
    try:
        current = bytes.fromhex(leaf_hash)
        for step in proof:
            sibling = bytes.fromhex(step.hash)
            if len(sibling) != 32:
                return False
            if step.side == "left":
                current = node_hash(sibling, current)
            elif step.side == "right":
                current = node_hash(current, sibling)
            else:
                return False
        return len(current) == 32 and current.hex() == root.lower()
    except (ValueError, TypeError, AttributeError):
        return False


def proof_to_wire(steps: Iterable[ProofStep]) -> tuple[list[str], list[str]]:
    """Proof as the wire's two parallel lists: sibling hashes and their sides, leaf to root."""
    steps = list(steps)
    return [s.hash for s in steps], [s.side for s in steps]


def proof_from_wire(hashes: Sequence[object], sides: Sequence[object]) -> list[ProofStep]:
    """Parse the two parallel lists; ValueError when they differ in length or a step is bad."""
    if len(hashes) != len(sides):
        raise ValueError(f"{len(hashes)} proof hashes but {len(sides)} sides")
    steps: list[ProofStep] = []
    for digest, side in zip(hashes, sides, strict=True):
        if not isinstance(digest, str) or side not in SIDES:
            raise ValueError(f"malformed proof step: {digest!r} ({side!r})")
        steps.append(ProofStep(hash=digest, side=str(side)))
    return steps
