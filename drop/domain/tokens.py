"""HMAC-SHA256 signed tokens: single-use purchase tokens, user sessions, and the links in
mail (a winner's single-use sign-in link, a one-click unsubscribe).

A session token names its session id; the signature only proves the server made it, and
the session's record (drop/adapters/session_store.py) says whether it is still live.

A token is ``base64url(payload) + "." + base64url(signature)``. The payload is a compact
JSON array whose first item names the token kind, and the signature covers a per-kind
domain-separation prefix as well, so a session can never pass as a purchase token (or
the other way round) even when both are signed with the same secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass

_PURCHASE_DOMAIN = b"product-drop/purchase-token/v1\x00"
_SESSION_DOMAIN = b"product-drop/session/v1\x00"
_LINK_DOMAIN = b"product-drop/sign-in-link/v1\x00"
_UNSUBSCRIBE_DOMAIN = b"product-drop/unsubscribe/v1\x00"
_LINK_KIND = "ln1"
_UNSUBSCRIBE_KIND = "un1"
_PURCHASE_KIND = "pt1"
# "s2" carries a session id; "s1" tokens (no id, so not revocable) are no longer accepted.
_SESSION_KIND = "s2"
# Sessions stamped slightly in the future are accepted to tolerate clock skew.
_SESSION_SKEW_MS = 60_000


@dataclass(frozen=True)
class SessionClaim:
    """What a genuine, unexpired session token says: whose it is and which session."""

    user_id: str
    session_id: str
    issued_at_ms: int


@dataclass(frozen=True)
class TokenCheck:
    """Outcome of a purchase-token check; ``reason`` is set when ``ok`` is False."""

    ok: bool
    reason: str | None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _signature(secret: str, domain: bytes, payload_b64: str) -> bytes:
    return hmac.digest(secret.encode(), domain + payload_b64.encode("ascii"), "sha256")


def _sign(secret: str, domain: bytes, payload: list[object]) -> str:
    if not secret:
        raise ValueError("a non-empty signing secret is required")
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64encode(_signature(secret, domain, body))}"


def _open(secret: str, domain: bytes, token: str) -> tuple[str, list[object] | None]:
    """Return ``("ok", payload)`` or ``(reason, None)``; the signature is checked first."""
    if not isinstance(token, str) or token.count(".") != 1 or not secret:
        return "malformed", None
    body, sig_text = token.split(".")
    try:
        expected = _b64encode(_signature(secret, domain, body))
    except UnicodeEncodeError:
        return "malformed", None
    # Compare the canonical encodings, not decoded bytes: base64 decoders ignore the unused
    # low bits of the last character, which would let several strings pass for one MAC.
    if not hmac.compare_digest(sig_text.encode(), expected.encode()):
        return "bad_signature", None
    try:
        payload = json.loads(_b64decode(body))
    except (ValueError, binascii.Error):
        return "malformed", None
    if not isinstance(payload, list):
        return "malformed", None
    return "ok", payload


def sign_purchase_token(
    secret: str, drop_id: str, user_id: str, expires_at_ms: int, nonce: str
) -> str:
    """Sign a purchase token bound to drop, user, expiry and a single-use nonce."""
    return _sign(secret, _PURCHASE_DOMAIN, [_PURCHASE_KIND, drop_id, user_id, expires_at_ms, nonce])


def purchase_token_nonce(token: str) -> str | None:
    """The nonce inside a token (unverified): the key to record single use under."""
    try:
        payload = json.loads(_b64decode(token.split(".")[0]))
    except (ValueError, binascii.Error, IndexError, AttributeError):
        return None
    if isinstance(payload, list) and len(payload) == 5 and isinstance(payload[4], str):
        return payload[4]
    return None


def verify_purchase_token(
    secret: str, token: str, drop_id: str, user_id: str, now_ms: int
) -> TokenCheck:
    """Check signature (constant-time), drop, user and expiry of a purchase token.

    Reasons: "malformed", "bad_signature", "wrong_drop", "wrong_user", "expired".
    Single use is not checked here: the caller records the nonce once used.
    """
    status, payload = _open(secret, _PURCHASE_DOMAIN, token)
    if payload is None:
        return TokenCheck(ok=False, reason=status)
    if len(payload) != 5 or payload[0] != _PURCHASE_KIND:
        return TokenCheck(ok=False, reason="malformed")
    _, token_drop, token_user, expires_at, _nonce = payload
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        return TokenCheck(ok=False, reason="malformed")
    if token_drop != drop_id:
        return TokenCheck(ok=False, reason="wrong_drop")
    if token_user != user_id:
        return TokenCheck(ok=False, reason="wrong_user")
    if now_ms >= expires_at:
        return TokenCheck(ok=False, reason="expired")
    return TokenCheck(ok=True, reason=None)


def sign_session(secret: str, user_id: str, issued_at_ms: int, session_id: str) -> str:
    """Sign a session token for ``user_id``'s session ``session_id``."""
    return _sign(secret, _SESSION_DOMAIN, [_SESSION_KIND, user_id, issued_at_ms, session_id])


def verify_session(secret: str, token: str, now_ms: int, ttl_ms: int) -> SessionClaim | None:
    """The session a token names, or None when invalid, forged or older than ``ttl_ms``.

    Revocation is not checked here: the caller looks the session id up."""
    _status, payload = _open(secret, _SESSION_DOMAIN, token)
    if payload is None or len(payload) != 4 or payload[0] != _SESSION_KIND:
        return None
    _, user_id, issued_at, session_id = payload
    if not isinstance(user_id, str) or not user_id:
        return None
    if not isinstance(session_id, str) or not session_id:
        return None
    if not isinstance(issued_at, int) or isinstance(issued_at, bool):
        return None
    if issued_at - _SESSION_SKEW_MS > now_ms or now_ms - issued_at >= ttl_ms:
        return None
    return SessionClaim(user_id, session_id, issued_at)


@dataclass(frozen=True)
class LinkClaim:
    """What a genuine sign-in link says: whose it is, for which drop, until when, and the
    nonce its single use is recorded under."""

    drop_id: str
    user_id: str
    expires_at_ms: int
    nonce: str


def sign_link(secret: str, drop_id: str, user_id: str, expires_at_ms: int, nonce: str) -> str:
    """A sign-in link token bound to a drop, a user, a deadline and a nonce."""
    return _sign(secret, _LINK_DOMAIN, [_LINK_KIND, drop_id, user_id, expires_at_ms, nonce])


def verify_link(secret: str, token: str, now_ms: int) -> tuple[LinkClaim | None, str]:
    """The link's claim and "" when genuine and unexpired; else None and the reason:
    "malformed", "bad_signature" or "expired". Single use is the caller's to record."""
    status, payload = _open(secret, _LINK_DOMAIN, token)
    if payload is None:
        return None, status
    if len(payload) != 5 or payload[0] != _LINK_KIND:
        return None, "malformed"
    _, drop_id, user_id, expires_at, nonce = payload
    if not all(isinstance(v, str) and v for v in (drop_id, user_id, nonce)):
        return None, "malformed"
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        return None, "malformed"
    if now_ms >= expires_at:
        return None, "expired"
    return LinkClaim(str(drop_id), str(user_id), expires_at, str(nonce)), ""


def sign_unsubscribe(secret: str, user_id: str, address_tag: str) -> str:
    """A one-click unsubscribe token for `user_id`'s address (named by its tag)."""
    return _sign(secret, _UNSUBSCRIBE_DOMAIN, [_UNSUBSCRIBE_KIND, user_id, address_tag])


def verify_unsubscribe(secret: str, token: str) -> tuple[str, str] | None:
    """(userId, address tag) of a genuine unsubscribe token; None otherwise. It never
    expires: an unsubscribe link must work for as long as the mail is kept."""
    _status, payload = _open(secret, _UNSUBSCRIBE_DOMAIN, token)
    if payload is None or len(payload) != 3 or payload[0] != _UNSUBSCRIBE_KIND:
        return None
    _, user_id, tag = payload
    if not isinstance(user_id, str) or not isinstance(tag, str) or not user_id or not tag:
        return None
    return user_id, tag
