"""Two xdist workers each run a whole stack on one machine: their free ports never overlap."""

from __future__ import annotations

import pytest

from devtools.procs import free_port


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw2"])
def test_an_xdist_worker_takes_only_its_share_of_the_ports(
    worker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    share = int(worker[2:])
    assert all((free_port() // 2) % 3 == share for _ in range(30))


def test_outside_xdist_any_free_port_will_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    shares = {(free_port() // 2) % 2 for _ in range(60)}
    assert shares == {0, 1}


def test_a_port_is_not_handed_out_twice_in_a_row() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
