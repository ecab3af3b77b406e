"""The drand-compatible beacon: published mainnet rounds, our own chains, round timing, and
the beacon part of a v2 proof."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from drop.domain import beacon
from drop.domain.beacon import BeaconRecord, Chain, Round, Signer
from drop.domain.lottery import ALGORITHM, LotteryProof, Participant, run_draw, verify_proof
from drop.settings import BeaconSettings

# drand mainnet (pedersen-bls-chained) round 3311596, as published by the chain.
MAINNET_ROUND = Round(
    round=3311596,
    previous_signature=(
        "8ed588f2a7716fb1349e2d9803da5db0005e98a83783c353d4a08f183236a9ad91d70ddb01266f4b7c576983"
        "db464b430e65680b9e0098552758afd6c1e6afcb77e3f62fe1b93d42d1cb63abbb2205512fe12fbf74ea9c5a"
        "c3b8f5c1e283a1d8"
    ),
    signature=(
        "a696b9409ababce45749c3a4ec369074453dd4a79967734e1390d969c8ad8d98897d217b9121e92c8ddebbdd"
        "da8d92f900e3bd6bf9deb166863b1a19390d743f82774001487594c5c09e581db7365f02b70a2c8cc41ce324"
        "46ef08e4890c4754"
    ),
    randomness="647c07b2abbf7ff2afb4d670214f565e5cd9f9c91bfdcecb59a21f3c78d73920",
)
MAINNET = Chain(
    beacon.MAINNET_CHAIN_HASH,
    beacon.MAINNET_PUBLIC_KEY,
    beacon.MAINNET_GENESIS,
    beacon.MAINNET_PERIOD,
    beacon.CHAINED,
)
SIGNER = Signer(hashlib.sha256(b"test chain").digest())


def _chain(scheme: str, genesis: int = 1_700_000_000, period: int = 3) -> Chain:
    return Chain("ab" * 32, SIGNER.public_key, genesis, period, scheme)


def _flip(hex_value: str) -> str:
    return hex_value[:-1] + ("0" if hex_value[-1] != "0" else "1")


def test_a_published_mainnet_round_verifies() -> None:
    assert beacon.problems(MAINNET, MAINNET_ROUND, 3311596) == []


def test_a_mainnet_round_under_another_number_or_previous_signature_fails() -> None:
    moved = dataclasses.replace(MAINNET_ROUND, round=3311597)
    assert "does not verify" in beacon.problems(MAINNET, moved, 3311597)[0]
    relinked = dataclasses.replace(MAINNET_ROUND, previous_signature=MAINNET_ROUND.signature)
    assert "does not verify" in beacon.problems(MAINNET, relinked, 3311596)[0]
    assert "not round 3311597" in beacon.problems(MAINNET, MAINNET_ROUND, 3311597)[0]


@pytest.mark.parametrize("scheme", beacon.SCHEMES)
def test_own_chain_rounds_verify_and_tampering_is_named(scheme: str) -> None:
    chain = _chain(scheme)
    first = SIGNER.sign(scheme, 1, "11" * 96)
    second = SIGNER.sign(scheme, 2, first.signature)
    assert beacon.problems(chain, second, 2) == []
    assert second.randomness == hashlib.sha256(bytes.fromhex(second.signature)).hexdigest()
    bad_value = dataclasses.replace(second, randomness=_flip(second.randomness))
    assert beacon.problems(chain, bad_value, 2) == [
        "the randomness of round 2 is not sha256(signature)"
    ]
    forged = Signer(b"\x07" * 32).sign(scheme, 2, first.signature)
    assert "does not verify under the chain's public key" in beacon.problems(chain, forged, 2)[0]
    garbage = dataclasses.replace(second, signature="00" * 96)
    assert "malformed" in beacon.problems(chain, garbage, 2)[0]


def test_unchained_rounds_ignore_the_previous_signature_and_chained_ones_do_not() -> None:
    unchained, chained = _chain(beacon.UNCHAINED), _chain(beacon.CHAINED)
    value = SIGNER.sign(beacon.UNCHAINED, 5)
    assert beacon.problems(unchained, dataclasses.replace(value, previous_signature="22"), 5) == []
    linked = SIGNER.sign(beacon.CHAINED, 5, "33" * 96)
    assert beacon.problems(chained, linked, 5) == []
    assert beacon.problems(chained, dataclasses.replace(linked, previous_signature="44" * 96), 5)


def test_the_committed_round_is_the_first_published_at_or_after_the_close() -> None:
    chain = _chain(beacon.UNCHAINED, genesis=1000, period=3)
    assert chain.round_time_ms(1) == 1_000_000 and chain.round_time_ms(4) == 1_009_000
    assert chain.round_at(1_009_000) == 4  # a round published exactly at the close
    assert chain.round_at(1_009_001) == 5
    assert chain.round_at(1_011_999) == 5
    assert chain.round_at(0) == 1  # before genesis: the first round
    for at in (1_000_001, 1_004_500, 1_123_456):
        published = chain.round_time_ms(chain.round_at(at))
        assert at <= published < at + 3000


def test_mainnet_timing_matches_the_published_round() -> None:
    at = MAINNET.round_time_ms(3311596)
    assert MAINNET.round_at(at) == 3311596
    assert MAINNET.round_at(at - 29_999) == 3311596


def test_a_bad_chain_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported beacon scheme"):
        Chain("ab", SIGNER.public_key, 0, 3, "bls-unchained-on-g1")
    with pytest.raises(ValueError, match="48 bytes"):
        Chain("ab", "abcd", 0, 3, beacon.CHAINED)


PEOPLE = [Participant(f"user{i:03}", 1 + i % 4) for i in range(12)]
CLOSE = 1_700_000_010_000


WAIT_MS = 9_000


def _v2_proof(
    status: str = beacon.VERIFIED, scheme: str = beacon.CHAINED, drawn_after: int = WAIT_MS
) -> LotteryProof:
    chain = _chain(scheme)
    number = chain.round_at(CLOSE)
    value = SIGNER.sign(scheme, number, "55" * 96) if status == beacon.VERIFIED else None
    reason = "" if value else "beacon unreachable"
    record = BeaconRecord(chain, number, status, value, reason, max_wait_ms=WAIT_MS)
    return run_draw(
        "beacon-drop", "01" * 32, PEOPLE, 3, 1.5, chain.round_time_ms(number) + drawn_after,
        registration_end=CLOSE, beacon=record,
    )  # fmt: skip


def test_a_v2_proof_mixes_the_beacon_into_the_seed_and_verifies() -> None:
    proof = _v2_proof()
    assert proof.algorithm == ALGORITHM
    assert verify_proof(proof).ok, verify_proof(proof).problems
    again = LotteryProof.from_wire(proof.to_wire())
    assert again == proof and verify_proof(again).ok
    # Another beacon value gives another seed: the randomness really is in it.
    other = _v2_proof(scheme=beacon.UNCHAINED)
    assert other.seed != proof.seed


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("signature", "does not verify"),
        ("randomness", "not sha256(signature)"),
        ("round", "first round at or after registrationEnd"),
    ],
)
def test_a_tampered_beacon_fails_verification_naming_it(field: str, named: str) -> None:
    wire = _v2_proof().to_wire()
    block = dict(wire["beacon"])  # type: ignore[call-overload]
    if field == "signature":  # a genuine signature, of another round
        block[field] = SIGNER.sign(beacon.CHAINED, block["round"] + 1, "55" * 96).signature
    else:
        block[field] = block[field] + 1 if field == "round" else _flip(block[field])
    report = verify_proof(LotteryProof.from_wire({**wire, "beacon": block}))
    assert not report.ok
    assert any(named in p for p in report.problems), report.problems


def test_a_v2_proof_without_its_beacon_fails() -> None:
    wire = {**_v2_proof().to_wire(), "beacon": None}
    report = verify_proof(LotteryProof.from_wire(wire))
    assert any("must carry its beacon round" in p for p in report.problems)


def test_a_fallback_draw_is_recorded_and_its_seed_has_no_beacon_part() -> None:
    proof = _v2_proof(status=beacon.FALLBACK)
    wire = proof.to_wire()["beacon"]
    assert isinstance(wire, dict)
    assert wire["status"] == "fallback" and wire["reason"] == "beacon unreachable"
    assert wire["signature"] is None and wire["randomness"] is None
    assert verify_proof(proof).ok
    # Claiming the fallback's seed came with a beacon value is caught.
    verified = _v2_proof()
    forged = dataclasses.replace(proof, beacon=verified.beacon)
    assert not verify_proof(forged).ok


def test_the_default_settings_are_drand_mainnet() -> None:

    settings = BeaconSettings(_env_file=None)
    configured = Chain(
        settings.beacon_chain_hash,
        settings.beacon_public_key,
        settings.beacon_genesis,
        settings.beacon_period,
        settings.beacon_scheme,
    )
    assert configured == MAINNET
    assert beacon.problems(configured, MAINNET_ROUND, MAINNET_ROUND.round) == []
