"""What production asks of a secret: set, long, not repetitive, and not one that development
publishes. The settings classes of drop.settings apply these rules at startup.
"""

from __future__ import annotations

import hashlib
import math

DEV_SECRET = "dev-insecure-secret-change-me"


class MissingSecretError(RuntimeError):
    """A secret has no value in production mode, or a value that cannot work."""


# Every default a development setup publishes (docker-compose.yml, the test and bench
# stacks, drop.settings' own fallbacks): a production secret containing one is refused.
PUBLISHED_DEFAULTS = (
    DEV_SECRET,
    "local-admin-secret",
    "local-purchase-token-secret",
    "local-ip-hash-salt",
    "local-nats-password",
    "test-admin-secret",
    "test-purchase-secret",
    "test-salt",
    "bench-admin-secret",
    "bench-purchase-secret",
    "bench-salt",
    "change-me",
    "changeme",
)
DEV_RECEIPT_KEY = hashlib.sha256(f"{DEV_SECRET}-receipt".encode()).hexdigest()
MIN_SECRET_LENGTH = 32
# A Shannon estimate over the value's own characters: 32 random hex digits (128 bits) come
# out near 118, a repeated word far below.
MIN_SECRET_BITS = 96.0


class WeakSecretError(MissingSecretError):
    """A production secret is short, repetitive or one that development publishes."""


def estimated_bits(value: str) -> float:
    """Length times the Shannon entropy of the value's character frequencies."""
    if not value:
        return 0.0
    counts = [value.count(c) for c in set(value)]
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    return per_char * len(value)


def refuse_weak(name: str, value: str) -> None:
    """Raise WeakSecretError naming `name` unless `value` is fit for production."""
    folded = value.lower()
    if value == DEV_RECEIPT_KEY or any(d in folded for d in PUBLISHED_DEFAULTS):
        raise WeakSecretError(
            f"{name} is a published development default; refusing to start in production"
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise WeakSecretError(
            f"{name} is {len(value)} characters; production needs at least "
            f"{MIN_SECRET_LENGTH} random ones (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'); refusing to start"
        )
    # A period shorter than the value (e.g. "0123456789abcdef" four times) finds it again
    # inside the doubled string before the halfway point.
    periodic = (value + value).find(value, 1) < len(value)
    if periodic or estimated_bits(value) < MIN_SECRET_BITS:
        raise WeakSecretError(f"{name} is too repetitive to be random; refusing to start")


def require_in_production(drop_env: str, **values: str) -> None:
    """Raise MissingSecretError naming the first empty value when running in production."""
    for name, value in values.items():
        if not value and drop_env == "production":
            raise MissingSecretError(
                f"{name.upper()} must be set when DROP_ENV=production; refusing to start"
            )
