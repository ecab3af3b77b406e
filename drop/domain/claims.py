"""Claims on user ids, and the fingerprints that scope idempotency keys.

A user id belongs to whoever registered it first. What is stored is a hash of the claim
secret (chosen by the client, or made by the server and shown once as a recovery code),
never the secret itself. Secrets are long random strings, so an HMAC-SHA256 with a fixed
domain key (no server pepper that a key rotation could invalidate) is enough: the user id
in the message keeps one secret from matching another id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_CLAIM_DOMAIN = b"product-drop/user-claim/v1"
_CALLER_DOMAIN = "product-drop/caller/v1"
_SEAL_DOMAIN = b"product-drop/recovery-seal/v1"
_NONCE_BYTES = 12
# 22 base64url characters carry 128 bits when they are random; shorter is refused outright.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,200}")
RECOVERY_CODE_BYTES = 24


def is_well_formed(secret: str) -> bool:
    return SECRET_PATTERN.fullmatch(secret) is not None


def new_recovery_code() -> str:
    """A server-made claim secret (32 base64url characters, 192 random bits)."""
    return secrets.token_urlsafe(RECOVERY_CODE_BYTES)


def secret_hash(user_id: str, secret: str) -> str:
    mac = hmac.new(_CLAIM_DOMAIN, f"{user_id}\x00{secret}".encode(), hashlib.sha256)
    return mac.hexdigest()


def secret_matches(stored_hash: str, user_id: str, secret: str) -> bool:
    """Whether `secret` is the one behind `stored_hash`, compared in constant time."""
    if not is_well_formed(secret):
        return False
    return hmac.compare_digest(stored_hash.encode(), secret_hash(user_id, secret).encode())


def holder_fingerprint(user_id: str, stored_hash: str) -> str:
    """Who holds `user_id`: the same for every proof of one claim (session or secret)."""
    return _digest(_CALLER_DOMAIN, "holder", user_id, stored_hash)


def session_fingerprint(user_id: str) -> str:
    """A caller known only by the session of `user_id`."""
    return _digest(_CALLER_DOMAIN, "session", user_id)


def body_fingerprint(body: Any) -> str:
    """A hash of a request's meaning: the same JSON value, whatever its key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal_recovery_code(code: str, idempotency_key: str, scope: str) -> str:
    """`code` encrypted under a key derived from the client's own Idempotency-Key, which the
    server never stores: the record alone (a bucket dump) does not reveal the code, and only
    a retry that presents the same key opens it again."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_seal_key(idempotency_key, scope)).encrypt(nonce, code.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_recovery_code(sealed: str, idempotency_key: str, scope: str) -> str | None:
    """The code `seal_recovery_code` sealed, or None for another key or a damaged seal."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        opened = AESGCM(_seal_key(idempotency_key, scope)).decrypt(nonce, body, None)
    except (InvalidTag, ValueError):
        return None
    return opened.decode()


def _seal_key(idempotency_key: str, scope: str) -> bytes:
    return hmac.new(_SEAL_DOMAIN, f"{scope}\x00{idempotency_key}".encode(), hashlib.sha256).digest()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
