"""The lottery proof and inclusion proof shapes of SPEC §9, recomputed from their fields
with nothing but hashlib, following the recipe documented in the README."""

from __future__ import annotations

import hashlib

import pytest

from drop.adapters.nats_bus import Bus
from tests.support.api_client import DropApi, now_ms, uid

pytestmark = pytest.mark.integration

PROOF_FIELDS = (
    "commitment",
    "secret",
    "participantMerkleRoot",
    "participantCount",
    "seed",
    "algorithm",
    "timestamp",
    "winners",
    "backupWinners",
    # issue 12: the proof carries what its counts depend on
    "inventory",
    "backupMultiplier",
    "registrationStart",
    "registrationEnd",
    "winnerCount",
    "backupCount",
    "beacon",
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def fold(inclusion: dict[str, object]) -> str:
    """Leaf from `{userId, effectiveTickets, index}`, then the siblings leaf to root."""
    leaf = inclusion["leaf"]
    assert isinstance(leaf, dict) and set(leaf) == {"userId", "effectiveTickets", "index"}
    text = f"{leaf['userId']}:{leaf['effectiveTickets']}:{leaf['index']}"
    current = sha256(b"\x00" + text.encode())
    assert current.hex() == inclusion["leafHash"]
    hashes, sides = inclusion["proof"], inclusion["proofSides"]
    assert isinstance(hashes, list) and isinstance(sides, list)
    assert all(isinstance(h, str) and len(bytes.fromhex(h)) == 32 for h in hashes)
    for sibling, side in zip(hashes, sides, strict=True):
        pair = (
            (bytes.fromhex(sibling), current)
            if side == "left"
            else (current, bytes.fromhex(sibling))
        )
        current = sha256(b"\x01" + pair[0] + pair[1])
    return current.hex()


async def test_proof_and_inclusion_proofs_recompute(api: DropApi, bus: Bus) -> None:
    drop_id = uid("compat-proof")
    users = [uid(f"p{i}") for i in range(7)]
    await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 3000)
    before = await api.proof(drop_id)
    assert before["available"] is False and isinstance(before["commitment"], str)
    early = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{users[0]}")
    assert early.json() == {"available": False}
    for i, user in enumerate(users):
        assert (await api.register(drop_id, user, 1 + i % 3)).status_code == 200
    await api.draw_after_close(bus, drop_id)

    answer = await api.proof(drop_id)
    assert answer["available"] is True
    proof = answer["proof"]
    assert all(name in proof for name in PROOF_FIELDS), set(PROOF_FIELDS) - set(proof)
    assert proof["commitment"] == answer["commitment"] == before["commitment"]
    assert sha256(bytes.fromhex(proof["secret"])).hex() == proof["commitment"]
    assert proof["participantCount"] == len(users)
    assert len(proof["winners"]) == 2 and len(proof["backupWinners"]) == 1
    assert (proof["inventory"], proof["backupMultiplier"]) == (2, 1.5)
    assert (proof["winnerCount"], proof["backupCount"]) == (2, 1)
    assert proof["timestamp"] >= proof["registrationEnd"] > proof["registrationStart"]
    assert not set(proof["winners"]) & set(proof["backupWinners"])
    root = proof["participantMerkleRoot"]
    # issue 12: v2 mixes in the committed beacon round's randomness (sha256 of its signature)
    beacon = proof["beacon"]
    assert proof["algorithm"] == "sha256-ctr-fenwick-wswor/v2" and beacon["status"] == "verified"
    assert sha256(bytes.fromhex(beacon["signature"])).hex() == beacon["randomness"]
    seed = sha256(
        b"product-drop/seed/v2\x00"
        + bytes.fromhex(proof["secret"])
        + bytes.fromhex(root)
        + bytes.fromhex(beacon["randomness"])
    )
    assert seed.hex() == proof["seed"]

    for user in users:
        r = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{user}")
        assert r.status_code == 200, r.text
        assert r.json()["available"] is True
        inclusion = r.json()["proof"]
        assert inclusion["leaf"]["userId"] == user
        assert inclusion["verified"] is True and inclusion["merkleRoot"] == root
        assert fold(inclusion) == root
    stranger = await api.client.get(f"/api/drop/{drop_id}/inclusion-proof/{uid('nobody')}")
    assert stranger.json() == {"available": False}
