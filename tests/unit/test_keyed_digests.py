"""The keyed digests on the crowd's path keep their values (HMAC-SHA256 as before), so
replicas of the previous build accept what this one issues and the stored hashes match."""

from __future__ import annotations

import base64
import hashlib
import hmac
from types import SimpleNamespace
from typing import cast

from apps.api import guards
from apps.api.state import ApiState
from drop.domain import pow as pow_rules
from drop.domain import tokens


def test_address_and_fingerprint_digests() -> None:
    state = cast(ApiState, SimpleNamespace(secrets=SimpleNamespace(ip_hash_salt="salt-1")))
    expected = hmac.new(b"salt-1", b"ip:203.0.113.9", hashlib.sha256).hexdigest()[:32]
    assert guards.digest(state, "ip", "203.0.113.9") == expected


def test_session_tokens() -> None:
    token = tokens.sign_session("s3cret", "user-1", 1_700_000_000_000, "sess-1")
    body, signature = token.split(".")
    signed = b"product-drop/session/v1\x00" + body.encode()
    mac = hmac.new(b"s3cret", signed, hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert tokens.verify_session("s3cret", token, 1_700_000_000_001, 60_000) is not None


def test_proof_of_work_challenges() -> None:
    key = pow_rules.challenge_key("s3cret")
    signed = b"pow-challenge/v1:1700000000000:0badc0de:4"
    mac = hmac.new(key, signed, hashlib.sha256).hexdigest()[:24]
    issued = pow_rules.sign_challenge(key, 1_700_000_000_000, 4, salt="0badc0de")
    assert issued == f"1700000000000:0badc0de{mac}"
