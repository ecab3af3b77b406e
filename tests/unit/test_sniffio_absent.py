"""drop/serve.py: httpcore's per-call `import sniffio` fails at once when it is absent."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest
from httpcore._synchronization import current_async_library

from drop import serve


async def _library() -> str:
    return current_async_library()


def test_an_absent_sniffio_is_remembered_and_httpcore_still_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    serve.remember_sniffio_is_absent()
    assert sys.modules["sniffio"] is None
    with pytest.raises(ImportError):
        importlib.import_module("sniffio")
    assert asyncio.run(_library()) == "asyncio"


def test_an_installed_sniffio_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    serve.remember_sniffio_is_absent()
    assert "sniffio" not in sys.modules
