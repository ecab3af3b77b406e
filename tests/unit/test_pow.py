import hashlib

import pytest

from drop.domain.errors import DomainError
from drop.domain.pow import (
    CHALLENGE_TTL_MS,
    is_fresh,
    make_challenge,
    parse_challenge,
    pow_hash,
    solve,
    verify_solution,
)

HEX = "0123456789abcdef0123456789abcdef"


def test_challenge_round_trip() -> None:
    challenge = make_challenge(1_700_000_000_000, HEX)
    assert challenge == f"1700000000000:{HEX}"
    assert parse_challenge(challenge) == 1_700_000_000_000


@pytest.mark.parametrize("bad", ["", "123", "abc:" + HEX, "123:" + HEX[:-1], "123:" + "g" * 32])
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(DomainError) as exc:
        parse_challenge(bad)
    assert exc.value.status == 400


def test_pow_hash_is_sha256_of_concatenation() -> None:
    assert pow_hash("a", "b") == hashlib.sha256(b"ab").hexdigest()


def test_solve_then_verify() -> None:
    challenge = make_challenge(1, HEX)
    nonce = solve(challenge, 3)
    assert nonce.isdigit()
    assert verify_solution(challenge, nonce, 3)
    assert pow_hash(challenge, nonce).startswith("000")


def test_wrong_nonce_fails() -> None:
    challenge = make_challenge(1, HEX)
    bad = next(str(i) for i in range(100) if not pow_hash(challenge, str(i)).startswith("000"))
    assert not verify_solution(challenge, bad, 3)
    assert not verify_solution(challenge, "", 0)
    assert not verify_solution(challenge, "1" * 65, 0)


def test_difficulty_zero_accepts_any_nonce() -> None:
    assert verify_solution(make_challenge(1, HEX), "x", 0)


def test_freshness() -> None:
    challenge = make_challenge(1_000_000, HEX)
    assert is_fresh(challenge, 1_000_000)
    assert is_fresh(challenge, 1_000_000 + CHALLENGE_TTL_MS - 1)
    assert not is_fresh(challenge, 1_000_000 + CHALLENGE_TTL_MS)
    assert not is_fresh(challenge, 1_000_000 - 60_000)
    assert not is_fresh("garbage", 1_000_000)
