"""Signed proof-of-work challenges: issued without storing, checked by any replica."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from drop.domain.pow import (
    MAX_DIFFICULTY,
    challenge_key,
    make_challenge,
    parse_challenge,
    sign_challenge,
    signed_difficulty,
)

KEY = challenge_key("a-shared-session-secret")
AT = 1_700_000_000_000


def test_a_signed_challenge_keeps_the_wire_format() -> None:
    challenge = sign_challenge(KEY, AT, 4)
    assert parse_challenge(challenge) == AT
    stamp, mac = challenge.split(":")
    assert stamp == str(AT) and len(mac) == 32 and mac == mac.lower()


def test_challenges_issued_in_the_same_millisecond_differ() -> None:
    issued = {sign_challenge(KEY, AT, 4) for _ in range(1000)}
    assert len(issued) == 1000
    assert all(signed_difficulty(KEY, c) == 4 for c in issued)


def test_the_salt_is_signed_too() -> None:
    challenge = sign_challenge(KEY, AT, 4, salt="0badc0de")
    stamp, hex32 = challenge.split(":")
    assert hex32.startswith("0badc0de")
    assert signed_difficulty(KEY, f"{stamp}:0badc0df{hex32[8:]}") is None


def test_the_key_signs_the_difficulty_it_was_given() -> None:
    for difficulty in range(MAX_DIFFICULTY + 1):
        assert signed_difficulty(KEY, sign_challenge(KEY, AT, difficulty)) == difficulty


def test_the_current_difficulty_first_finds_every_other_too() -> None:
    """Tried first for speed, the current setting changes no answer: a challenge issued
    before the setting changed keeps its own difficulty, and a forged one none."""
    for issued in range(MAX_DIFFICULTY + 1):
        challenge = sign_challenge(KEY, AT, issued)
        for current in range(MAX_DIFFICULTY + 1):
            assert signed_difficulty(KEY, challenge, current) == issued
    assert signed_difficulty(KEY, make_challenge(AT, "ef" * 16), 4) is None


def test_a_downgraded_difficulty_is_not_signed() -> None:
    """The signature of difficulty 4 is not that of difficulty 1: the server learns 4."""
    challenge = sign_challenge(KEY, AT, 4, salt="00000000")
    assert challenge != sign_challenge(KEY, AT, 1, salt="00000000")
    assert signed_difficulty(KEY, challenge) == 4


def test_another_timestamp_breaks_the_signature() -> None:
    hex32 = sign_challenge(KEY, AT, 4).split(":")[1]
    assert signed_difficulty(KEY, f"{AT + 1}:{hex32}") is None


def test_forged_random_or_malformed_challenges_are_not_signed() -> None:
    assert signed_difficulty(KEY, make_challenge(AT, "ef" * 16)) is None
    assert signed_difficulty(KEY, "garbage") is None
    assert signed_difficulty(challenge_key("another-secret"), sign_challenge(KEY, AT, 4)) is None


def test_the_key_is_derived_for_challenges_alone() -> None:
    """Not the secret itself, and not what the secret signs for anything else."""
    secret = "a-shared-session-secret"
    assert challenge_key(secret) != secret.encode()
    assert challenge_key(secret) == challenge_key(secret)
    signed = f"pow-challenge/v1:{AT}:00000000:4".encode()
    plain = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()[:24]
    assert sign_challenge(KEY, AT, 4, salt="00000000") != f"{AT}:00000000{plain}"


@pytest.mark.parametrize("difficulty", [-1, MAX_DIFFICULTY + 1])
def test_difficulties_outside_the_range_are_refused(difficulty: int) -> None:
    with pytest.raises(ValueError):
        sign_challenge(KEY, AT, difficulty)


@pytest.mark.parametrize("salt", ["", "0BADC0DE", "0badc0d", "0badc0de0"])
def test_malformed_salts_are_refused(salt: str) -> None:
    with pytest.raises(ValueError):
        sign_challenge(KEY, AT, 4, salt=salt)
