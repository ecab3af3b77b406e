"""Fixtures for the deployment tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .support import FAKE_FLYCTL, FakeFly


@pytest.fixture
def fake_fly(tmp_path: Path) -> FakeFly:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    flyctl = bin_dir / "flyctl"
    flyctl.write_text(f"#!{sys.executable}\n{FAKE_FLYCTL}")
    flyctl.chmod(0o755)
    log, state = tmp_path / "flyctl-calls.jsonl", tmp_path / "flyctl-state.json"
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR")}
    env = {
        **keep,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_FLY_LOG": str(log),
        "FAKE_FLY_STATE": str(state),
        "APP_PREFIX": "acme-drop",
        "WORKER_VERSION": "b7",
        "ADMIN_SECRET": "s3cret-admin",
        "PURCHASE_TOKEN_SECRET": "s3cret-token",
        "IP_HASH_SALT": "s3cret-salt",
        "RECEIPT_SIGNING_KEY": "5e" + "c3" * 31,
        "PYTHONDONTWRITEBYTECODE": "1",
        "FLY_SECRETS_DIR": str(tmp_path / "fly-secrets"),
    }
    return FakeFly(bin_dir=bin_dir, log=log, state=state, env=env)
