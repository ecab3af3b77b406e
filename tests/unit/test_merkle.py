import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drop.domain.merkle import (
    MerkleTree,
    ProofStep,
    leaf_hash,
    leaf_text,
    proof_from_wire,
    proof_to_wire,
    verify_proof,
)


def _leaves(n: int) -> list[str]:
    return [leaf_hash(leaf_text(f"user{i}", i % 7 + 1, i)) for i in range(n)]


def test_leaf_format_and_domain_separation() -> None:
    assert leaf_text("alice", 3, 0) == "alice:3:0"
    assert leaf_hash("alice:3:0") == hashlib.sha256(b"\x00alice:3:0").hexdigest()


def test_empty_and_single_leaf_roots() -> None:
    assert MerkleTree.from_leaf_hashes([]).root == hashlib.sha256(b"").hexdigest()
    only = _leaves(1)[0]
    tree = MerkleTree.from_leaf_hashes([only])
    assert tree.root == only
    assert tree.proof(0) == []
    assert verify_proof(only, [], tree.root)


def test_two_leaves_root() -> None:
    a, b = _leaves(2)
    expected = hashlib.sha256(b"\x01" + bytes.fromhex(a) + bytes.fromhex(b)).hexdigest()
    assert MerkleTree.from_leaf_hashes([a, b]).root == expected


def test_odd_leaf_is_promoted() -> None:
    a, b, c = _leaves(3)
    ab = hashlib.sha256(b"\x01" + bytes.fromhex(a) + bytes.fromhex(b)).digest()
    expected = hashlib.sha256(b"\x01" + ab + bytes.fromhex(c)).hexdigest()
    tree = MerkleTree.from_leaf_hashes([a, b, c])
    assert tree.root == expected
    assert tree.proof(2) == [ProofStep(hash=ab.hex(), side="left")]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70))
def test_every_proof_verifies(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.from_leaf_hashes(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_proof(leaf, tree.proof(i), tree.root)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_alteration_fails(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 40))
    leaves = _leaves(n)
    tree = MerkleTree.from_leaf_hashes(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.proof(i)
    other_leaf = leaves[(i + 1) % n]
    assert not verify_proof(other_leaf, proof, tree.root)
    assert not verify_proof(leaf_hash("mallory:99:0"), proof, tree.root)
    flipped_root = ("0" if tree.root[0] != "0" else "1") + tree.root[1:]
    assert not verify_proof(leaves[i], proof, flipped_root)
    k = data.draw(st.integers(0, len(proof) - 1))
    bad_hash = ("f" if proof[k].hash[0] != "f" else "e") + proof[k].hash[1:]
    tampered = [*proof[:k], ProofStep(bad_hash, proof[k].side), *proof[k + 1 :]]
    assert not verify_proof(leaves[i], tampered, tree.root)
    flipped_side = "left" if proof[k].side == "right" else "right"
    swapped = [*proof[:k], ProofStep(proof[k].hash, flipped_side), *proof[k + 1 :]]
    assert not verify_proof(leaves[i], swapped, tree.root)
    assert not verify_proof(leaves[i], proof[:-1], tree.root)


def test_malformed_inputs_do_not_verify() -> None:
    leaves = _leaves(4)
    tree = MerkleTree.from_leaf_hashes(leaves)
    assert not verify_proof("zz", tree.proof(0), tree.root)
    assert not verify_proof(leaves[0], [ProofStep("zz", "left")], tree.root)
    assert not verify_proof(leaves[0], [ProofStep(leaves[1], "up")], tree.root)


def test_proof_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        MerkleTree.from_leaf_hashes(_leaves(3)).proof(3)


def test_wire_round_trip() -> None:
    tree = MerkleTree.from_leaf_hashes(_leaves(9))
    proof = tree.proof(4)
    hashes, sides = proof_to_wire(proof)
    assert hashes == [step.hash for step in proof] and set(sides) <= {"left", "right"}
    assert proof_from_wire(hashes, sides) == proof
    with pytest.raises(ValueError):
        proof_from_wire(["ab"], ["middle"])
    with pytest.raises(ValueError):
        proof_from_wire(hashes, sides[:-1])
    with pytest.raises(ValueError):
        proof_from_wire([1], ["left"])
