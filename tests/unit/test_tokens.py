from hypothesis import given, settings
from hypothesis import strategies as st

from drop.domain.tokens import (
    _SESSION_DOMAIN,
    TokenCheck,
    _sign,
    purchase_token_nonce,
    sign_purchase_token,
    sign_session,
    verify_purchase_token,
    verify_session,
)

SECRET = "s3cret"
NOW = 1_700_000_000_000


def _token(**overrides: object) -> str:
    args: dict[str, object] = {
        "secret": SECRET,
        "drop_id": "drop-1",
        "user_id": "alice",
        "expires_at_ms": NOW + 60_000,
        "nonce": "n-1",
    }
    args.update(overrides)
    return sign_purchase_token(**args)  # type: ignore[arg-type]


def test_valid_purchase_token() -> None:
    token = _token()
    assert verify_purchase_token(SECRET, token, "drop-1", "alice", NOW) == TokenCheck(True, None)
    assert purchase_token_nonce(token) == "n-1"


def test_token_is_url_safe() -> None:
    token = _token(user_id="ünïcode/+?=")
    assert all(c.isalnum() or c in "-_." for c in token)


def test_purchase_token_reasons() -> None:
    token = _token()
    assert verify_purchase_token(SECRET, token, "drop-2", "alice", NOW).reason == "wrong_drop"
    assert verify_purchase_token(SECRET, token, "drop-1", "bob", NOW).reason == "wrong_user"
    assert verify_purchase_token(SECRET, token, "drop-1", "alice", NOW + 60_000).reason == (
        "expired"
    )
    assert verify_purchase_token("other", token, "drop-1", "alice", NOW).reason == "bad_signature"
    assert verify_purchase_token(SECRET, "nodot", "drop-1", "alice", NOW).reason == "malformed"
    assert verify_purchase_token(SECRET, "a.b.c", "drop-1", "alice", NOW).reason == "malformed"


@settings(max_examples=60)
@given(st.data())
def test_any_tampered_character_fails(data: st.DataObject) -> None:
    token = _token()
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCxyz019-_."))
    tampered = token[:i] + replacement + token[i + 1 :]
    check = verify_purchase_token(SECRET, tampered, "drop-1", "alice", NOW)
    if tampered != token:
        assert not check.ok
        assert check.reason in {"malformed", "bad_signature"}


def test_last_signature_character_is_strict() -> None:
    token = _token()
    for c in "AQgwEFIx":
        tampered = token[:-1] + c
        if tampered != token:
            check = verify_purchase_token(SECRET, tampered, "drop-1", "alice", NOW)
            assert check.reason == "bad_signature"


def test_payload_swap_fails() -> None:
    mine, theirs = _token(user_id="alice"), _token(user_id="bob")
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    assert verify_purchase_token(SECRET, forged, "drop-1", "bob", NOW).reason == "bad_signature"


def test_session_round_trip_and_expiry() -> None:
    token = sign_session(SECRET, "alice", NOW, "sid-1")
    found = verify_session(SECRET, token, NOW + 1000, ttl_ms=3_600_000)
    assert found is not None and (found.user_id, found.session_id) == ("alice", "sid-1")
    assert verify_session(SECRET, token, NOW + 3_600_000, ttl_ms=3_600_000) is None
    assert verify_session("other", token, NOW, ttl_ms=3_600_000) is None
    assert verify_session(SECRET, token + "x", NOW, ttl_ms=3_600_000) is None
    assert verify_session(SECRET, "garbage", NOW, ttl_ms=3_600_000) is None


def test_a_session_without_an_id_is_refused() -> None:
    # The first token format named no session, so it could never be revoked.
    old = _sign(SECRET, _SESSION_DOMAIN, ["s1", "alice", NOW])
    assert verify_session(SECRET, old, NOW, ttl_ms=3_600_000) is None
    empty = _sign(SECRET, _SESSION_DOMAIN, ["s2", "alice", NOW, ""])
    assert verify_session(SECRET, empty, NOW, ttl_ms=3_600_000) is None


def test_session_cannot_be_used_as_purchase_token() -> None:
    session = sign_session(SECRET, "alice", NOW, "sid-1")
    check = verify_purchase_token(SECRET, session, "drop-1", "alice", NOW)
    assert not check.ok


def test_purchase_token_cannot_be_used_as_session() -> None:
    assert verify_session(SECRET, _token(), NOW, ttl_ms=3_600_000) is None
