import json
from pathlib import Path

import pytest

from drop.domain.lottery import Participant, run_draw
from drop.verify import main


def _wire() -> dict[str, object]:
    ps = [Participant(f"u{i}", i % 5 + 1) for i in range(30)]
    return run_draw("drop-cli", "ab" * 32, ps, 5, 1.5, 1_700_000_000_000).to_wire()


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_good_proof_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([_write(tmp_path, _wire())]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out
    for check in ("commitment", "merkle root", "seed", "winners and backups"):
        assert check in out


def test_api_response_is_accepted(tmp_path: Path) -> None:
    assert main([_write(tmp_path, {"available": True, "proof": _wire()})]) == 0


def test_tampered_proof_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wire = _wire()
    winners = list(wire["winners"])  # type: ignore[call-overload]
    wire["winners"] = [winners[1], winners[0], *winners[2:]]
    assert main([_write(tmp_path, wire)]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_tampered_participant_exits_1(tmp_path: Path) -> None:
    wire = _wire()
    wire["participants"][0]["effectiveTickets"] = 99  # type: ignore[index]
    assert main([_write(tmp_path, wire)]) == 1


@pytest.mark.parametrize("content", ["not json", "[]", '{"available": false}', '{"dropId": 1}'])
def test_unreadable_input_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "proof.json"
    path.write_text(content)
    assert main([str(path)]) == 2


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.json")]) == 2


def _inclusion() -> dict[str, object]:
    from drop.domain.lottery import LotteryProof, inclusion_proof

    proof = LotteryProof.from_wire(_wire())
    found = inclusion_proof(list(proof.participants), "u7")
    assert found is not None
    return found.to_wire()


def test_inclusion_proof_response_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([_write(tmp_path, {"available": True, "proof": _inclusion()})]) == 0
    assert "VERIFIED: the leaf is included" in capsys.readouterr().out


def test_tampered_inclusion_proof_exits_1(tmp_path: Path) -> None:
    wire = _inclusion()
    wire["leaf"] = {**wire["leaf"], "effectiveTickets": 99}  # type: ignore[dict-item]
    assert main([_write(tmp_path, wire)]) == 1


@pytest.mark.parametrize("declared", [True, False])
def test_a_proof_cut_to_half_its_winners_without_backups_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], declared: bool
) -> None:
    """The issue's example: 5 of 10 winners and no backups, counts edited to match or not."""
    ps = [Participant(f"u{i}", i % 5 + 1) for i in range(30)]
    wire = run_draw("drop-cut", "ab" * 32, ps, 10, 1.5, 1_700_000_000_000).to_wire()
    wire["winners"] = wire["winners"][:5]  # type: ignore[index]
    wire["backupWinners"] = []
    if declared:
        wire["winnerCount"], wire["backupCount"] = 5, 0
    assert main([_write(tmp_path, wire)]) == 1
    out = capsys.readouterr().out
    assert "The list of winners is shortened: 5 listed" in out
    assert "The list of backups is shortened: 0 listed" in out
    assert "NOT VERIFIED" in out


def test_a_proof_lacking_its_inventory_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wire = _wire()
    del wire["inventory"]
    assert main([_write(tmp_path, wire)]) == 1
    assert "does not carry inventory" in capsys.readouterr().out
