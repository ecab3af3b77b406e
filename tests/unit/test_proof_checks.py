"""A proof held to what its drop committed to at creation: downgrades to v1, a stripped
beacon, a fallback taken too early and a swapped receipt key are each refused by name;
honest v1 drops (no beacon committed) still verify."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from drop.domain import beacon
from drop.domain.beacon import BeaconRecord, Chain, Signer
from drop.domain.lottery import (
    ALGORITHM,
    ALGORITHM_V1,
    LotteryProof,
    Participant,
    run_draw,
    verify_proof,
)
from drop.domain.proof_checks import Commitment, check_against
from drop.domain.receipt_check import Outcome, check_receipt
from drop.domain.receipts import ReceiptSigner
from drop.verify import main

BEACON_SIGNER = Signer(hashlib.sha256(b"proof checks chain").digest())
CHAIN = Chain("cd" * 32, BEACON_SIGNER.public_key, 1_700_000_000, 3, beacon.UNCHAINED)
RECEIPTS = ReceiptSigner("66" * 32)
OTHER_KEY = ReceiptSigner("77" * 32).key
PEOPLE = [Participant(f"p{i:02}", 1 + i % 3) for i in range(10)]
CLOSE = 1_700_000_030_000
ROUND = CHAIN.round_at(CLOSE)
WAIT_MS = 60_000
SECRET = "5a" * 32


def _status(*, committed_round: bool = True) -> dict[str, object]:
    """The drop's status as published at creation."""
    proof = _proof()
    block = {
        **CHAIN.to_wire(),
        "round": ROUND,
        "roundTime": CHAIN.round_time_ms(ROUND),
        "urls": [],
        "algorithm": ALGORITHM,
        "maxWaitMs": WAIT_MS,
        "receiptKey": RECEIPTS.key.to_wire(),
    }
    return {
        "dropId": "checked",
        "lotteryCommitment": proof.commitment,
        "beacon": block if committed_round else None,
    }


def _proof(
    status: str = beacon.VERIFIED,
    *,
    drawn_at: int | None = None,
    with_beacon: bool = True,
    participants: list[Participant] = PEOPLE,
    max_wait_ms: int | None = WAIT_MS,
) -> LotteryProof:
    value = BEACON_SIGNER.sign(beacon.UNCHAINED, ROUND) if status == beacon.VERIFIED else None
    record = BeaconRecord(
        CHAIN, ROUND, status, value, "" if value else "unreachable", max_wait_ms=max_wait_ms
    )
    at = CHAIN.round_time_ms(ROUND) + WAIT_MS if drawn_at is None else drawn_at
    return run_draw(
        "checked", SECRET, participants, 3, 1.5, at,
        registration_end=CLOSE, receipt_key=RECEIPTS.key, beacon=record if with_beacon else None,
    )  # fmt: skip


def _against(proof: LotteryProof, **status: bool) -> list[str]:
    return check_against(proof, Commitment.from_status(_status(**status)))


def _named(found: list[str] | tuple[str, ...], words: str) -> bool:
    return any(words in p for p in found)


def test_an_honest_draw_meets_its_commitment() -> None:
    assert _against(_proof()) == []
    assert _against(_proof(beacon.FALLBACK)) == []  # a fallback after the full wait


def test_a_downgrade_to_v1_without_the_beacon_is_refused_by_name() -> None:
    downgraded = _proof(with_beacon=False)  # seed and winners recomputed: consistent alone
    assert downgraded.algorithm == ALGORITHM_V1
    found = _against(downgraded)
    assert _named(found, f"DOWNGRADE: the drop committed to round {ROUND}")
    assert _named(found, "without a beacon")


def test_a_v2_proof_stripped_of_its_beacon_or_moved_to_another_round_is_refused() -> None:
    stripped = dataclasses.replace(_proof(), beacon=None)
    assert _named(_against(stripped), "proof carries no beacon")
    genuine = _proof().beacon
    assert genuine is not None
    moved = dataclasses.replace(_proof(), beacon=dataclasses.replace(genuine, round=ROUND + 1))
    assert _named(_against(moved), f"is not round {ROUND} committed at creation")


def test_an_honest_v1_drop_that_committed_to_no_round_still_verifies() -> None:
    old = _proof(with_beacon=False)
    assert _against(old, committed_round=False) == []


def test_a_fallback_before_round_time_plus_the_committed_wait_is_forged() -> None:
    early = _proof(beacon.FALLBACK, drawn_at=CHAIN.round_time_ms(ROUND) + WAIT_MS - 1)
    assert _named(_against(early), "FORGED FALLBACK")
    # The proof alone shows it too: it carries the wait it was bound to.
    assert _named(verify_proof(early).problems, "FORGED FALLBACK")
    # Claiming a shorter wait in the proof does not help against the commitment.
    shorter = _proof(beacon.FALLBACK, drawn_at=CHAIN.round_time_ms(ROUND) + 1, max_wait_ms=1)
    assert verify_proof(shorter).ok
    found = _against(shorter)
    assert _named(found, "maxWaitMs 1 is not the 60000 ms committed")
    assert _named(found, "FORGED FALLBACK")


def test_a_fallback_that_names_no_wait_is_refused() -> None:
    unbounded = _proof(beacon.FALLBACK, max_wait_ms=None)
    assert _named(verify_proof(unbounded).problems, "fallback carries no maxWaitMs")


def test_a_swapped_receipt_key_is_named_and_omission_evidence_survives_it() -> None:
    receipt = RECEIPTS.sign("checked", "p03", 1, 1, CLOSE - 5_000)
    without = [p for p in PEOPLE if p.user_id != "p03"]
    swapped = dataclasses.replace(_proof(participants=without), receipt_key=OTHER_KEY)
    assert _named(_against(swapped), "RECEIPT KEY SWAPPED")
    # Under the proof's own key only, a mismatch is named, not called an invalid receipt.
    alone = check_receipt(swapped, receipt)
    assert alone.outcome is Outcome.KEY_MISMATCH
    assert "the proof's key was swapped" in alone.lines[0]
    # Under the committed key the receipt is still evidence of its omission.
    verdict = check_receipt(swapped, receipt, RECEIPTS.key)
    assert verdict.outcome is Outcome.OMITTED and verdict.key_swapped
    assert "RECEIPT KEY SWAPPED" in verdict.lines[0]
    assert _named(verdict.lines, "EVIDENCE OF OMISSION")


def _write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_refuses_a_downgrade_given_the_drop_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = _write(tmp_path, "proof.json", _proof(with_beacon=False).to_wire())
    assert main([proof]) == 0  # alone it looks like an old v1 draw: said so loudly
    assert "WARNING: only drops created before the beacon may be drawn v1" in (
        capsys.readouterr().out
    )
    assert main([proof, "--drop", _write(tmp_path, "status.json", _status())]) == 1
    out = capsys.readouterr().out
    assert "committed at creation FAILED" in out and "DOWNGRADE" in out
    old = _write(tmp_path, "old.json", _status(committed_round=False))
    assert main([proof, "--drop", old]) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_cli_checks_receipts_under_the_committed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without = [p for p in PEOPLE if p.user_id != "p03"]
    swapped = dataclasses.replace(_proof(participants=without), receipt_key=OTHER_KEY)
    receipt = RECEIPTS.sign("checked", "p03", 1, 1, CLOSE - 5_000)
    args = [
        _write(tmp_path, "proof.json", swapped.to_wire()),
        "--receipt",
        _write(tmp_path, "receipt.json", receipt.to_wire()),
        "--drop",
        _write(tmp_path, "status.json", _status()),
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "Receipt: OMITTED" in out and "EVIDENCE OF OMISSION" in out
    assert out.count("RECEIPT KEY SWAPPED") == 2  # in the proof's checks and the receipt's


def test_an_unreadable_status_exits_2(tmp_path: Path) -> None:
    proof = _write(tmp_path, "proof.json", _proof().to_wire())
    bad = _write(tmp_path, "status.json", {"lotteryCommitment": 5})
    assert main([proof, "--drop", bad]) == 2
