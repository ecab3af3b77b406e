"""The challenges a process remembers having issued (drop/adapters/pow_store.py)."""

from __future__ import annotations

from drop.adapters.pow_store import IssuedChallenge, IssuedHere


def issued(name: str, at: int) -> IssuedChallenge:
    return IssuedChallenge(name, 2, at, revision=at)


def test_a_challenge_is_taken_once() -> None:
    memo = IssuedHere(ttl_ms=1000)
    memo.keep(issued("a", 0))
    assert memo.take("a") == issued("a", 0)
    assert memo.take("a") is None


def test_challenges_past_their_lifetime_are_forgotten() -> None:
    memo = IssuedHere(ttl_ms=1000)
    memo.keep(issued("old", 0))
    memo.keep(issued("mid", 600))
    memo.keep(issued("new", 1200))
    assert memo.take("old") is None
    assert memo.take("mid") is not None and memo.take("new") is not None


def test_the_oldest_go_first_past_the_bound() -> None:
    memo = IssuedHere(ttl_ms=10_000, max_entries=2)
    for n in range(3):
        memo.keep(issued(str(n), n))
    assert memo.take("0") is None
    assert memo.take("1") is not None and memo.take("2") is not None
