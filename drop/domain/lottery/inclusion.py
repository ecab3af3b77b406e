"""A participant's Merkle inclusion proof: built from the ordered participants, checked
against the published root, and its wire form (docs/contract.md, Proofs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drop.domain.lottery.drawing import Participant, merkle_tree
from drop.domain.lottery.proof_fields import wire_int, wire_str, wire_str_list
from drop.domain.merkle import (
    MerkleTree,
    ProofStep,
    leaf_hash,
    leaf_text,
    proof_from_wire,
    proof_to_wire,
)
from drop.domain.merkle import verify_proof as verify_merkle_proof


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
            user_id=wire_str(leaf, "userId"),
            index=wire_int(leaf, "index"),
            effective_tickets=wire_int(leaf, "effectiveTickets"),
            leaf_hash=wire_str(d, "leafHash"),
            root=wire_str(d, "merkleRoot"),
            steps=tuple(proof_from_wire(hashes, sides)),
            ranking=wire_str_list(leaf, "variants") if "variants" in leaf else (),
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
