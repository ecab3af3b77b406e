"""fly/identity.py (standard library only) agrees with `cryptography` on every key."""

from __future__ import annotations

import importlib.util
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drop import identity as reference

from .support import FLY


def fly_identity() -> Any:
    spec = importlib.util.spec_from_file_location("fly_identity", FLY / "identity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("attempt", range(8))
def test_public_key_matches_cryptography(attempt: int) -> None:
    pem = reference.new_private_pem()
    assert fly_identity().public_key_of(pem.decode()) == reference.public_key_of(pem)


def test_generated_pem_is_a_key_cryptography_reads() -> None:
    ours = fly_identity()
    pem = ours.new_private_pem()
    assert reference.public_key_of(pem.encode()) == ours.public_key_of(pem)


def test_base58_keeps_leading_zero_bytes() -> None:
    assert fly_identity().base58(b"\0\0\x01") == "112" == reference.base58(b"\0\0\x01")


def test_a_key_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        fly_identity().seed_of("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_cli_writes_the_pair_once(tmp_path: Path) -> None:
    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(FLY / "identity.py"), "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    first = run()
    pem = tmp_path / "restate-identity.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert first == reference.public_key_of(pem.read_bytes())
    assert (tmp_path / "restate-identity.pub").read_text().strip() == first
    assert run() == first
