"""Signed entry receipts: the signature, the canonical encoding, and the check against a
published proof (included, omitted with evidence, or worthless)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from drop.domain.lottery import LotteryProof, Participant, run_draw
from drop.domain.receipt_check import Outcome, check_receipt
from drop.domain.receipts import Receipt, ReceiptKey, ReceiptSigner
from drop.verify import main

SEED = "11" * 32
SIGNER = ReceiptSigner(SEED)


def _proof(without: str | None = None, drop_id: str = "drop-r") -> LotteryProof:
    ps = [Participant(f"u{i:02d}", i % 4 + 1) for i in range(12) if f"u{i:02d}" != without]
    return run_draw(
        drop_id, "cd" * 32, ps, 3, 1.5, 2_000, registration_end=1_000, receipt_key=SIGNER.key
    )


def _receipt(user: str = "u05") -> Receipt:
    return SIGNER.sign("drop-r", user, 3, 5 % 4 + 1, 900)


def test_the_signed_message_is_the_documented_canonical_encoding() -> None:
    r = _receipt()
    expected = (
        b"product-drop/receipt/v1\n"
        b'{"dropId":"drop-r","effectiveTickets":2,"keyId":"' + r.key_id.encode() + b'",'
        b'"leaf":"u05:2","registeredAt":900,"tickets":3,"userId":"u05"}'
    )
    assert r.message() == expected
    assert r.leaf == "u05:2" and len(r.signature) == 128
    assert r.signed_by(SIGNER.key)
    assert Receipt.from_wire(r.to_wire()) == r
    assert Receipt.from_wire({"receipt": r.to_wire()}) == r


def test_signing_is_deterministic_and_the_key_id_is_stable() -> None:
    assert ReceiptSigner(SEED).sign("d", "u", 1, 1, 5) == SIGNER.sign("d", "u", 1, 1, 5)
    assert SIGNER.key.to_wire()["keyId"] == SIGNER.key.key_id
    assert ReceiptKey.from_wire(SIGNER.key.to_wire()) == SIGNER.key


@pytest.mark.parametrize(
    "change",
    [
        {"tickets": 4},
        {"effective_tickets": 9},
        {"registered_at": 901},
        {"user_id": "u06"},
        {"signature": "00" * 64},
    ],
)
def test_any_change_breaks_the_signature(change: dict[str, object]) -> None:
    assert not replace(_receipt(), **change).signed_by(SIGNER.key)  # type: ignore[arg-type]


def test_another_key_does_not_verify() -> None:
    assert not _receipt().signed_by(ReceiptSigner("22" * 32).key)


def test_an_included_entry() -> None:
    verdict = check_receipt(_proof(), _receipt())
    assert verdict.outcome is Outcome.INCLUDED
    assert "Included: leaf 'u05:2:5' at index 5" in verdict.lines[-1]


def test_a_removed_entry_gives_evidence_of_omission() -> None:
    verdict = check_receipt(_proof(without="u05"), _receipt())
    assert verdict.outcome is Outcome.OMITTED
    assert any("has no leaf for u05" in line for line in verdict.lines)
    assert "EVIDENCE OF OMISSION" in verdict.lines[-1]


def test_a_changed_ticket_count_is_an_omission_too() -> None:
    proof = _proof()
    tweaked = tuple(
        replace(p, effective_tickets=1) if p.user_id == "u05" else p for p in proof.participants
    )
    redrawn = run_draw(
        "drop-r", "cd" * 32, tweaked, 3, 1.5, 2_000, registration_end=1_000, receipt_key=SIGNER.key
    )
    verdict = check_receipt(redrawn, _receipt())
    assert verdict.outcome is Outcome.OMITTED
    assert any("holds 'u05:1:5'" in line for line in verdict.lines)


def test_a_forged_receipt_proves_nothing() -> None:
    forged = ReceiptSigner("33" * 32).sign("drop-r", "u05", 3, 2, 900)
    forged = replace(forged, key_id=SIGNER.key.key_id)
    verdict = check_receipt(_proof(without="u05"), forged)
    assert verdict.outcome is Outcome.INVALID
    assert "signature is not valid" in verdict.lines[0]


def test_a_receipt_for_another_drop_is_refused() -> None:
    verdict = check_receipt(_proof(drop_id="other"), _receipt())
    assert verdict.outcome is Outcome.INVALID and "for drop drop-r" in verdict.lines[0]


def _files(tmp_path: Path, proof: LotteryProof, receipt: Receipt) -> list[str]:
    p, r = tmp_path / "proof.json", tmp_path / "receipt.json"
    p.write_text(json.dumps({"available": True, "proof": proof.to_wire()}))
    r.write_text(json.dumps(receipt.to_wire()))
    return [str(p), "--receipt", str(r)]


def test_cli_proves_inclusion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_files(tmp_path, _proof(), _receipt())) == 0
    assert "Receipt: INCLUDED" in capsys.readouterr().out


def test_cli_prints_the_evidence_of_omission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_files(tmp_path, _proof(without="u05"), _receipt())) == 1
    out = capsys.readouterr().out
    assert "Receipt: OMITTED" in out and "EVIDENCE OF OMISSION" in out
    assert _receipt().signature in out  # the signed receipt itself is printed


def test_cli_checks_against_a_key_given_apart_from_the_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = replace(_proof(), receipt_key=ReceiptSigner("44" * 32).key)
    args = _files(tmp_path, swapped, _receipt())
    assert main(args) == 1  # the proof publishes another key than the one that signed
    assert "Receipt: KEY MISMATCH" in capsys.readouterr().out
    # Under the trusted key the entry is found, and the proof's other key is named a swap.
    assert main([*args, "--key", SIGNER.key.public_key]) == 1
    out = capsys.readouterr().out
    assert "Receipt: INCLUDED" in out and "RECEIPT KEY SWAPPED" in out


def test_cli_unreadable_receipt_exits_2(tmp_path: Path) -> None:
    args = _files(tmp_path, _proof(), _receipt())
    Path(args[2]).write_text('{"userId": 5}')
    assert main(args) == 2
