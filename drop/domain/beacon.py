"""Public randomness from a drand-compatible beacon: chains, round timing, signature checks.

A chain publishes round ``r`` at ``genesis + (r - 1) * period`` (seconds). Each round is a
BLS12-381 signature by the chain's threshold key: public key on G1 (48 bytes compressed),
signature on G2 (96 bytes), the IETF basic scheme with
``DST = BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_``. The signed message is

* ``pedersen-bls-chained`` (drand's default mainnet): ``sha256(previous_signature || round)``
* ``pedersen-bls-unchained``: ``sha256(round)``

with ``round`` as 8 bytes big endian, and ``randomness = sha256(signature)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import blspy

CHAINED = "pedersen-bls-chained"
UNCHAINED = "pedersen-bls-unchained"
SCHEMES = (CHAINED, UNCHAINED)
DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"

VERIFIED = "verified"
FALLBACK = "fallback"

# drand's League of Entropy mainnet (the `default` chain): what production configures.
MAINNET_CHAIN_HASH = "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce"
MAINNET_PUBLIC_KEY = (
    "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a5699"
    "37c529eeda66c7293784a9402801af31"
)
MAINNET_GENESIS = 1595431050
MAINNET_PERIOD = 30
KNOWN_CHAINS = {MAINNET_PUBLIC_KEY: "drand mainnet (League of Entropy)"}


def _hex(value: str, size: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} is not hex") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class Chain:
    """A beacon chain's public parameters; times in seconds since the epoch."""

    chain_hash: str
    public_key: str
    genesis: int
    period: int
    scheme: str

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"unsupported beacon scheme {self.scheme!r} (one of {SCHEMES})")
        if self.period < 1 or self.genesis < 0:
            raise ValueError("a beacon chain needs period >= 1 s and genesis >= 0")
        _hex(self.public_key, 48, "the beacon public key")

    def round_at(self, at_ms: int) -> int:
        """The first round published at or after ``at_ms`` (round 1 before genesis)."""
        since = at_ms - self.genesis * 1000
        if since <= 0:
            return 1
        return 1 - (-since // (self.period * 1000))

    def round_time_ms(self, round_number: int) -> int:
        return (self.genesis + (round_number - 1) * self.period) * 1000

    def to_wire(self) -> dict[str, object]:
        return {
            "chainHash": self.chain_hash,
            "scheme": self.scheme,
            "publicKey": self.public_key,
            "genesis": self.genesis,
            "period": self.period,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> Chain:
        chain_hash, key, scheme = d.get("chainHash"), d.get("publicKey"), d.get("scheme")
        genesis, period = d.get("genesis"), d.get("period")
        if not (isinstance(chain_hash, str) and isinstance(key, str) and isinstance(scheme, str)):
            raise ValueError("beacon chainHash, publicKey and scheme must be strings")
        if type(genesis) is not int or type(period) is not int:
            raise ValueError("beacon genesis and period must be integers (seconds)")
        return cls(chain_hash, key.lower(), genesis, period, scheme)


@dataclass(frozen=True)
class Round:
    """One round as a drand HTTP API answers ``GET {url}/{chainhash}/public/{round}``."""

    round: int
    signature: str
    randomness: str
    previous_signature: str = ""

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> Round:
        number, sig = d.get("round"), d.get("signature")
        randomness, previous = d.get("randomness"), d.get("previous_signature", "")
        if type(number) is not int or not isinstance(sig, str) or not isinstance(randomness, str):
            raise ValueError("a beacon round needs integer round, hex signature and randomness")
        if previous is None:
            previous = ""
        if not isinstance(previous, str):
            raise ValueError("previous_signature must be hex")
        return cls(number, sig.lower(), randomness.lower(), previous.lower())

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = {
            "round": self.round,
            "randomness": self.randomness,
            "signature": self.signature,
        }
        if self.previous_signature:
            wire["previous_signature"] = self.previous_signature
        return wire


def message(scheme: str, round_number: int, previous_signature: bytes = b"") -> bytes:
    """The 32 bytes the chain signs for a round."""
    number = round_number.to_bytes(8, "big")
    if scheme == CHAINED:
        return hashlib.sha256(previous_signature + number).digest()
    return hashlib.sha256(number).digest()


def randomness_of(signature: bytes) -> str:
    return hashlib.sha256(signature).hexdigest()


def problems(chain: Chain, value: Round, expected_round: int) -> list[str]:
    """Why ``value`` is not the genuine round ``expected_round`` of ``chain`` (empty: it is)."""
    if value.round != expected_round:
        return [f"the beacon answered round {value.round}, not round {expected_round}"]
    try:
        sig = _hex(value.signature, 96, "the beacon signature")
        # Any length: a chain's first round links to its 32-byte genesis seed.
        previous = bytes.fromhex(value.previous_signature) if chain.scheme == CHAINED else b""
        point = blspy.G2Element.from_bytes(sig)
        key = blspy.G1Element.from_bytes(bytes.fromhex(chain.public_key))
    except (ValueError, RuntimeError) as exc:
        return [f"round {value.round} is malformed: {exc}"]
    found: list[str] = []
    if not blspy.BasicSchemeMPL.verify(key, message(chain.scheme, value.round, previous), point):
        found.append(
            f"the signature of round {value.round} does not verify under the chain's public key"
        )
    if randomness_of(sig) != value.randomness:
        found.append(f"the randomness of round {value.round} is not sha256(signature)")
    return found


class Signer:
    """A chain's private key (the test beacon's): the same scheme, so the same checks apply."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) < 32:
            raise ValueError("a BLS key seed needs at least 32 bytes")
        self._key = blspy.BasicSchemeMPL.key_gen(seed)

    @property
    def public_key(self) -> str:
        return bytes(self._key.get_g1()).hex()

    def sign(self, scheme: str, round_number: int, previous_signature: str = "") -> Round:
        msg = message(scheme, round_number, bytes.fromhex(previous_signature))
        sig = bytes(blspy.BasicSchemeMPL.sign(self._key, msg))
        previous = previous_signature if scheme == CHAINED else ""
        return Round(round_number, sig.hex(), randomness_of(sig), previous)


@dataclass(frozen=True)
class BeaconRecord:
    """The beacon part of a proof: the committed chain and round, and what the draw used.

    ``status`` is ``verified`` (the round's signature checked; its randomness is in the
    seed) or ``fallback`` (the round could not be had in time: the seed has no beacon part,
    and ``reason`` says why).
    """

    chain: Chain
    round: int
    status: str
    value: Round | None = None
    reason: str = ""
    urls: tuple[str, ...] = ()
    # How long past the round's time the draw had to wait before a fallback, as committed
    # at creation; None in proofs from before it was recorded.
    max_wait_ms: int | None = None

    @property
    def fallback_not_before(self) -> int | None:
        """The earliest draw time a fallback is allowed: round time + the committed wait."""
        if self.max_wait_ms is None:
            return None
        return self.chain.round_time_ms(self.round) + self.max_wait_ms

    @property
    def randomness(self) -> bytes:
        """The bytes mixed into the seed: the round's randomness, or none in a fallback."""
        if self.status == VERIFIED and self.value is not None:
            return bytes.fromhex(self.value.randomness)
        return b""

    def to_wire(self) -> dict[str, object]:
        value = self.value
        return {
            **self.chain.to_wire(),
            "round": self.round,
            "roundTime": self.chain.round_time_ms(self.round),
            "status": self.status,
            "signature": value.signature if value else None,
            "previousSignature": (value.previous_signature or None) if value else None,
            "randomness": value.randomness if value else None,
            "reason": self.reason or None,
            "urls": list(self.urls),
            "maxWaitMs": self.max_wait_ms,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> BeaconRecord:
        number, status = d.get("round"), d.get("status")
        if type(number) is not int or status not in (VERIFIED, FALLBACK):
            raise ValueError("beacon needs an integer round and status verified or fallback")
        sig, rnd, prev = d.get("signature"), d.get("randomness"), d.get("previousSignature")
        value = None
        if status == VERIFIED:
            value = Round.from_wire(
                {"round": number, "signature": sig, "randomness": rnd, "previous_signature": prev}
            )
        reason, urls = d.get("reason") or "", d.get("urls") or []
        if not isinstance(reason, str) or not isinstance(urls, list):
            raise ValueError("beacon reason must be a string and urls a list")
        assert isinstance(status, str)
        chain, urls_kept = Chain.from_wire(d), tuple(map(str, urls))
        return cls(chain, number, status, value, reason, urls_kept, max_wait_ms(d))


def max_wait_ms(d: Mapping[str, object]) -> int | None:
    """The committed ``maxWaitMs`` of a beacon block, if it names one."""
    value = d.get("maxWaitMs")
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise ValueError("beacon maxWaitMs must be a non-negative integer (milliseconds)")
    return value


def check_fallback(record: BeaconRecord, drawn_at: int) -> list[str]:
    """A fallback is only honest once the round's time plus the committed wait has passed:
    one taken earlier is a forgery (the operator skipped a round it could have had)."""
    if record.status != FALLBACK:
        return []
    not_before = record.fallback_not_before
    if not_before is None:
        return [
            "The fallback carries no maxWaitMs: nothing shows the draw waited for round "
            f"{record.round} as long as the drop committed to."
        ]
    if drawn_at < not_before:
        return [
            f"FORGED FALLBACK: the draw ran at {drawn_at}, before round {record.round}'s time "
            f"{record.chain.round_time_ms(record.round)} + the committed max wait "
            f"{record.max_wait_ms} ms = {not_before}."
        ]
    return []


def check_record(
    record: BeaconRecord, registration_end: int | None, drawn_at: int | None = None
) -> list[str]:
    """Offline check of a proof's beacon: the round is the one the drop's close fixes, a
    verified round's signature and randomness are genuine under the chain's key, and a
    fallback came no earlier than the committed wait allows."""
    found: list[str] = [] if drawn_at is None else check_fallback(record, drawn_at)
    if registration_end is not None:
        committed = record.chain.round_at(registration_end)
        if record.round != committed:
            found.append(
                f"The beacon round is {record.round}, but the first round at or after "
                f"registrationEnd is {committed}."
            )
    if record.status == VERIFIED:
        if record.value is None:
            return [*found, "The beacon is marked verified but carries no round value."]
        found.extend(
            f"The beacon is not genuine: {p}."
            for p in problems(record.chain, record.value, record.round)
        )
    return found
