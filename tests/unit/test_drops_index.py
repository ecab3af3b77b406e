"""The one reading of the drops index that the api and sse share."""

from __future__ import annotations

import json
from typing import Any

from drop.drops_index import DropStates, deadline, is_newer, state_of


def drop_state(
    drop_id: str, version: int, phase: str = "registration", **extra: Any
) -> dict[str, Any]:
    return {
        "dropId": drop_id,
        "version": version,
        "phase": phase,
        "registrationEnd": 1_000,
        **extra,
    }


def test_a_newer_version_replaces_the_known_state() -> None:
    states = DropStates()
    assert states.remember("d", drop_state("d", 1))
    assert states.remember("d", drop_state("d", 2, phase="purchase"))
    assert states.get("d") == drop_state("d", 2, phase="purchase")


def test_an_older_or_equal_version_is_ignored() -> None:
    states = DropStates()
    states.remember("d", drop_state("d", 5, soldCount=3))
    assert not states.remember("d", drop_state("d", 4, soldCount=1))
    assert not states.remember("d", drop_state("d", 5, soldCount=9))
    assert states.get("d") == drop_state("d", 5, soldCount=3)


def test_an_unversioned_state_cannot_be_ordered_so_the_latest_arrival_wins() -> None:
    known = drop_state("d", 3)
    unversioned = {"dropId": "d", "phase": "ended"}
    assert is_newer(unversioned, known)
    assert is_newer(drop_state("d", 1), unversioned)
    assert is_newer(drop_state("d", 1), None)


def test_active_lists_open_drops_by_their_current_deadline_with_their_ids() -> None:
    states = DropStates()
    states.remember("late", drop_state("x", 1, registrationEnd=5_000))
    states.remember("buying", drop_state("buying", 1, phase="purchase", purchaseEnd=3_000))
    states.remember("soon", drop_state("soon", 1, registrationEnd=2_000))
    states.remember("done", drop_state("done", 1, phase="ended"))
    active = states.active()
    assert [d["dropId"] for d in active] == ["soon", "buying", "late"]


def test_a_purchase_without_its_end_sorts_by_registration_end_and_no_end_sorts_last() -> None:
    assert deadline(drop_state("d", 1, phase="purchase")) == 1_000
    assert deadline({"phase": "registration"}) == float("inf")


def test_state_of_reads_the_envelope_and_refuses_what_is_not_one() -> None:
    state = drop_state("d", 1)
    assert state_of(json.dumps({"data": state}).encode()) == state
    assert state_of(b"not json") is None
    assert state_of(None) is None
    assert state_of(json.dumps({"data": [1]}).encode()) is None
    assert state_of(b"[1, 2]") is None
