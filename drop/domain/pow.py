"""Hashcash-style proof-of-work challenges that make mass registration expensive.

A challenge's 32 hex chars are 8 random ones (so two challenges issued in the same
millisecond differ) and an HMAC, truncated to 96 bits, of those, the timestamp and the
difficulty under a key every api replica shares. Issuing one stores nothing: whoever
receives it back recomputes the HMAC to learn that it was issued, and for which difficulty.
Spending it once is the store's business (drop/adapters/pow_store.py).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets

from drop.domain.errors import ValidationFailed

CHALLENGE_TTL_MS = 300_000
MAX_NONCE_LENGTH = 64
MAX_DIFFICULTY = 8
SALT_HEX = 8
_SALT = re.compile(f"[0-9a-f]{{{SALT_HEX}}}")
# Unlike every token signed with the same secret (drop/domain/tokens.py domains).
_KEY_LABEL = b"product-drop/pow-challenge-key/v1\x00"
_SIGNED_LABEL = "pow-challenge/v1"

_CHALLENGE = re.compile(r"([0-9]{1,16}):([0-9a-f]{32})")


def make_challenge(timestamp_ms: int, random_hex: str) -> str:
    """Build ``"<ms>:<32 hex>"`` from a timestamp and 16 random bytes in hex."""
    challenge = f"{timestamp_ms}:{random_hex.lower()}"
    parse_challenge(challenge)
    return challenge


def challenge_key(secret: str) -> bytes:
    """The signing key of challenges, derived from a shared secret for this use alone."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, timestamp_ms: int, salt: str, difficulty: int) -> str:
    signed = f"{_SIGNED_LABEL}:{timestamp_ms}:{salt}:{difficulty}".encode()
    # hmac.digest: the same HMAC in one call into OpenSSL, without an HMAC object.
    return hmac.digest(key, signed, "sha256").hex()[: 32 - SALT_HEX]


def sign_challenge(key: bytes, timestamp_ms: int, difficulty: int, salt: str | None = None) -> str:
    """``"<ms>:<salt><HMAC of the timestamp, salt and difficulty>"`` (salt random unless
    given, for tests)."""
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty must be 0..{MAX_DIFFICULTY}")
    salt = secrets.token_hex(SALT_HEX // 2) if salt is None else salt
    if not _SALT.fullmatch(salt):
        raise ValueError(f"salt must be {SALT_HEX} lowercase hex chars")
    return make_challenge(timestamp_ms, salt + _signature(key, timestamp_ms, salt, difficulty))


def signed_difficulty(key: bytes, challenge: str, current: int | None = None) -> int | None:
    """The difficulty `key` signed the challenge for; None when it signed none (malformed,
    forged, or issued by a build that stored its challenges instead). `current`, the
    difficulty issued now, is tried first: nearly every challenge has it, and each try is
    an HMAC."""
    try:
        timestamp_ms = parse_challenge(challenge)
    except ValidationFailed:
        return None
    hex32 = challenge.rsplit(":", 1)[1]
    salt, given = hex32[:SALT_HEX], hex32[SALT_HEX:]
    # Every difficulty is tried, so a challenge stays good for the difficulty it was issued
    # with when the setting changes during its life.
    others = [d for d in range(MAX_DIFFICULTY + 1) if d != current]
    for difficulty in others if current is None else [current, *others]:
        if hmac.compare_digest(given, _signature(key, timestamp_ms, salt, difficulty)):
            return difficulty
    return None


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
