from hypothesis import given
from hypothesis import strategies as st

from drop.domain import claims

SECRET = "abcdefghijklmnopqrstuvwxyz012345"


def test_a_secret_matches_only_its_own_user_id() -> None:
    stored = claims.secret_hash("alice", SECRET)
    assert claims.secret_matches(stored, "alice", SECRET)
    assert not claims.secret_matches(stored, "bob", SECRET)
    assert not claims.secret_matches(stored, "alice", SECRET[:-1] + "6")


def test_malformed_secrets_never_match() -> None:
    for bad in ("", "short", SECRET + " ", SECRET + "\n", "x" * 201, "é" * 30):
        assert not claims.is_well_formed(bad)
        assert not claims.secret_matches(claims.secret_hash("alice", bad), "alice", bad)


def test_recovery_codes_are_well_formed_and_fresh() -> None:
    codes = {claims.new_recovery_code() for _ in range(50)}
    assert len(codes) == 50
    assert all(claims.is_well_formed(c) and len(c) == 32 for c in codes)


def test_one_claim_is_one_caller_whatever_the_proof() -> None:
    stored = claims.secret_hash("alice", SECRET)
    assert claims.holder_fingerprint("alice", stored) == claims.holder_fingerprint("alice", stored)
    assert claims.holder_fingerprint("alice", stored) != claims.holder_fingerprint("bob", stored)
    assert claims.session_fingerprint("alice") != claims.holder_fingerprint("alice", stored)


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_a_body_fingerprint_ignores_key_order(body: dict[str, object]) -> None:
    reordered = dict(reversed(list(body.items())))
    assert claims.body_fingerprint(body) == claims.body_fingerprint(reordered)


def test_a_body_fingerprint_sees_every_value() -> None:
    base = {"userId": "alice", "tickets": 2, "location": None}
    assert claims.body_fingerprint(base) != claims.body_fingerprint({**base, "tickets": 3})
    assert claims.body_fingerprint(base) != claims.body_fingerprint({**base, "userId": "bob"})


def test_a_sealed_recovery_code_opens_only_with_its_key_and_scope() -> None:
    code, key = claims.new_recovery_code(), "0f6c2a9e-6d1b-4f55-9a57-1c2b3d4e5f60"
    sealed = claims.seal_recovery_code(code, key, "register:d:u")
    assert code not in sealed and key not in sealed
    assert claims.open_recovery_code(sealed, key, "register:d:u") == code
    assert claims.open_recovery_code(sealed, key.replace("0f", "1f", 1), "register:d:u") is None
    assert claims.open_recovery_code(sealed, key, "register:d:other") is None
    assert claims.open_recovery_code(sealed[:-4] + "AAAA", key, "register:d:u") is None
    assert claims.open_recovery_code("not base64!", key, "register:d:u") is None
