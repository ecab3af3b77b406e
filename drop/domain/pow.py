"""Hashcash-style proof-of-work challenges that make mass registration expensive."""

from __future__ import annotations

import hashlib
import itertools
import re

from drop.domain.errors import ValidationFailed

CHALLENGE_TTL_MS = 300_000
MAX_NONCE_LENGTH = 64

_CHALLENGE = re.compile(r"([0-9]{1,16}):([0-9a-f]{32})")


def make_challenge(timestamp_ms: int, random_hex: str) -> str:
    """Build ``"<ms>:<32 hex>"`` from a timestamp and 16 random bytes in hex."""
    challenge = f"{timestamp_ms}:{random_hex.lower()}"
    parse_challenge(challenge)
    return challenge


def parse_challenge(challenge: str) -> int:
    """Return the challenge's timestamp in ms; 400 ``invalid_challenge`` when malformed."""
    match = _CHALLENGE.fullmatch(challenge) if isinstance(challenge, str) else None
    if match is None:
        raise ValidationFailed(
            "invalid_challenge", "challenge must look like '<ms timestamp>:<32 hex chars>'"
        )
    return int(match.group(1))


def pow_hash(challenge: str, nonce: str) -> str:
    """``sha256(challenge + nonce)`` in hex."""
    return hashlib.sha256((challenge + nonce).encode()).hexdigest()


def verify_solution(challenge: str, nonce: str, difficulty: int) -> bool:
    """True when the hash starts with ``difficulty`` hex zeros and the nonce is sane."""
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_LENGTH:
        return False
    return pow_hash(challenge, nonce).startswith("0" * max(difficulty, 0))


def solve(challenge: str, difficulty: int) -> str:
    """Brute-force a decimal nonce (for tests and benchmark clients, not for servers)."""
    prefix = "0" * max(difficulty, 0)
    base = hashlib.sha256(challenge.encode())
    for counter in itertools.count():
        nonce = str(counter)
        h = base.copy()
        h.update(nonce.encode())
        if h.hexdigest().startswith(prefix):
            return nonce
    raise AssertionError("unreachable")  # pragma: no cover


def is_fresh(challenge: str, now_ms: int, ttl_ms: int = CHALLENGE_TTL_MS) -> bool:
    """True while the challenge is younger than ``ttl_ms`` (and not from the future)."""
    try:
        issued = parse_challenge(challenge)
    except ValidationFailed:
        return False
    # A little clock skew between instances is tolerated; far-future stamps are forged.
    return -5_000 <= now_ms - issued < ttl_ms
