"""Public randomness on the real stack, with the test beacon: a drop commits to a round at
creation, the draw mixes that round in after checking its signature, a tampered round is
refused, and a beacon that stays down ends in a fallback the proof shows."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drop import verify
from drop.adapters.nats_bus import Bus
from drop.domain import lottery
from drop.domain.beacon import FALLBACK, BeaconRecord
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def beacon(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.beacon_url, timeout=10) as client:
        yield client


async def _drop_with_entries(api: DropApi, prefix: str) -> tuple[str, dict[str, Any]]:
    drop_id = uid(prefix)
    await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 1500, purchaseWindow=60)
    for n in range(4):
        assert (await api.register(drop_id, uid("b"), 1 + n)).status_code == 200
    return drop_id, (await api.status(drop_id))["beacon"]


async def _served(beacon: httpx.AsyncClient, number: int, at_least: int) -> None:
    """Wait until the test beacon has answered round `number` that many times."""
    answer = await beacon.get(f"/control/{number}", params={"at_least": at_least}, timeout=30)
    assert answer.json()["served"] >= at_least, answer.text


def _verify(
    tmp_path: Path,
    proof: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    status: dict[str, Any] | None = None,
) -> str:
    path, args = tmp_path / "proof.json", []
    path.write_text(json.dumps(proof))
    if status is not None:
        (tmp_path / "status.json").write_text(json.dumps(status))
        args = ["--drop", str(tmp_path / "status.json")]
    code = verify.main([str(path), *args])
    return f"exit {code}\n{capsys.readouterr().out}"


async def test_a_real_proof_is_held_to_the_terms_its_drop_committed_to(
    api: DropApi, bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop_id, committed = await _drop_with_entries(api, "terms")
    status = await api.status(drop_id)  # what anyone could keep before the draw
    key = (await api.client.get("/api/fairness/key")).json()
    assert committed["algorithm"] == lottery.ALGORITHM and committed["receiptKey"] == key
    assert committed["maxWaitMs"] == 3000  # the stack's BEACON_MAX_WAIT_SECONDS
    await api.draw_after_close(bus, drop_id)
    wire = (await api.proof(drop_id))["proof"]
    assert wire["beacon"]["maxWaitMs"] == 3000
    out = _verify(tmp_path, wire, capsys, status)
    assert out.startswith("exit 0") and "committed at creation ok" in out, out

    real = lottery.LotteryProof.from_wire(wire)
    assert real.beacon is not None

    def redrawn(record: BeaconRecord | None, at: int) -> dict[str, Any]:
        """The same entries drawn again, as an operator rewriting the proof would."""
        params = real.parameters
        return lottery.run_draw(
            drop_id, real.secret, real.participants, 2, 1.5, at,
            registration_start=params.registration_start or 0,
            registration_end=params.registration_end or 0,
            receipt_key=real.receipt_key, beacon=record,
        ).to_wire()  # fmt: skip

    # Downgraded to v1: seed and winners recomputed, consistent on its own.
    downgraded = redrawn(None, real.timestamp)
    assert _verify(tmp_path, downgraded, capsys).startswith("exit 0")
    out = _verify(tmp_path, downgraded, capsys, status)
    assert out.startswith("exit 1") and "DOWNGRADE: the drop committed to round" in out, out
    # A fallback claimed a moment after the round's time, long before the wait ran out.
    fallback = dataclasses.replace(real.beacon, status=FALLBACK, value=None, reason="down")
    forged = redrawn(fallback, committed["roundTime"] + 1)
    out = _verify(tmp_path, forged, capsys, status)
    assert out.startswith("exit 1") and "FORGED FALLBACK" in out, out


async def test_the_draw_mixes_in_the_committed_round_and_verify_rechecks_it(
    api: DropApi,
    bus: Bus,
    stack: Stack,
    beacon: httpx.AsyncClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drop_id, committed = await _drop_with_entries(api, "beacon")
    chain = stack.beacon_chain
    end = (await api.status(drop_id))["registrationEnd"]
    assert committed["chainHash"] == chain.chain_hash
    assert committed["publicKey"] == chain.public_key
    assert committed["round"] == chain.round_at(end)
    assert committed["roundTime"] >= end and committed["urls"] == [stack.beacon_url]

    await api.draw_after_close(bus, drop_id)
    proof = (await api.proof(drop_id))["proof"]
    block = proof["beacon"]
    genuine = (await beacon.get(f"/{chain.chain_hash}/public/{committed['round']}")).json()
    assert block["status"] == "verified" and block["round"] == committed["round"]
    assert (block["signature"], block["randomness"]) == (
        genuine["signature"],
        genuine["randomness"],
    )
    assert block["previousSignature"] == genuine["previous_signature"]
    assert proof["algorithm"] == lottery.ALGORITHM
    assert proof["seed"] == lottery.derive_seed(
        proof["secret"], proof["participantMerkleRoot"], bytes.fromhex(genuine["randomness"])
    )
    out = _verify(tmp_path, proof, capsys)
    assert out.startswith("exit 0") and "status verified" in out, out

    # Offline, the verifier refuses a beacon value or signature the chain did not give.
    earlier = (await beacon.get(f"/{chain.chain_hash}/public/{committed['round'] - 1}")).json()
    for field, value, named in (
        ("signature", earlier["signature"], "does not verify under the chain's public key"),
        ("randomness", earlier["randomness"], "is not sha256(signature)"),
    ):
        out = _verify(tmp_path, {**proof, "beacon": {**block, field: value}}, capsys)
        assert out.startswith("exit 1") and named in out, out


@pytest.mark.parametrize(
    ("mode", "named"),
    [
        ("bad-signature", "does not verify under the chain's public key"),
        ("bad-randomness", "is not sha256(signature)"),
    ],
)
async def test_a_tampered_round_is_refused_until_the_genuine_one_arrives(
    api: DropApi, bus: Bus, beacon: httpx.AsyncClient, mode: str, named: str
) -> None:
    drop_id, committed = await _drop_with_entries(api, "tamper")
    number = committed["round"]
    assert (await beacon.post(f"/control/{number}", json={"mode": mode})).status_code == 200
    try:
        await _served(beacon, number, at_least=2)  # refused, and asked again
        assert (await api.status(drop_id))["phase"] == "registration"
    finally:
        await beacon.post(f"/control/{number}", json={"mode": "honest"})
    await api.draw_after_close(bus, drop_id)
    block = (await api.proof(drop_id))["proof"]["beacon"]
    genuine = (await beacon.get(f"/{committed['chainHash']}/public/{number}")).json()
    assert block["status"] == "verified"
    assert block["randomness"] == genuine["randomness"]
    assert "refused" in block["reason"] and named in block["reason"], block["reason"]


async def test_a_beacon_that_stays_down_ends_in_a_recorded_fallback(
    api: DropApi,
    bus: Bus,
    beacon: httpx.AsyncClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drop_id, committed = await _drop_with_entries(api, "fallback")
    number = committed["round"]
    await beacon.post(f"/control/{number}", json={"mode": "down"})
    try:
        drawn = await api.draw_after_close(bus, drop_id)
    finally:
        await beacon.post(f"/control/{number}", json={"mode": "honest"})
    assert drawn["winnerCount"] == 2
    proof = (await api.proof(drop_id))["proof"]
    block = proof["beacon"]
    assert block["status"] == "fallback" and block["round"] == number
    assert block["signature"] is None and block["randomness"] is None
    assert "could not be had" in block["reason"] and "HTTP 503" in block["reason"]
    assert proof["timestamp"] >= committed["roundTime"] + 3000  # it waited the max wait
    assert proof["seed"] == lottery.derive_seed(
        proof["secret"], proof["participantMerkleRoot"], b""
    )
    out = _verify(tmp_path, proof, capsys, await api.status(drop_id))
    assert out.startswith("exit 0") and "WARNING: FALLBACK" in out, out
