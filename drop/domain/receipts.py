"""Signed entry receipts: what a participant holds to prove they entered.

At registration the service signs, with its Ed25519 key, the entry as it will be committed
to the draw. The Merkle index of the entry is only fixed at the draw (leaves are sorted by
userId over everyone who entered), so the receipt commits to ``leaf = "userId:effectiveTickets"``,
the leaf text without its index; the verifier finds the index in the published tree.

Signed message (bytes): ``b"product-drop/receipt/v1\\n"`` followed by the JSON object
``{dropId, effectiveTickets, keyId, leaf, registeredAt, tickets, userId}`` with keys sorted,
no whitespace (separators ``,`` and ``:``), ASCII only. Every value is an ASCII string or an
integer, so this encoding is unambiguous in any language. ``signature`` is the 64-byte
Ed25519 signature in hex; ``keyId`` is the first 16 hex characters of sha256(public key).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "ed25519"
SEED_BYTES = 32
_DOMAIN = b"product-drop/receipt/v1\n"


def receipt_leaf(user_id: str, effective_tickets: int, ranking: Sequence[str] = ()) -> str:
    """The leaf text the receipt commits to: the tree's leaf without its index (with the
    ranked variants on a drop that has them, so a ranking changed later shows)."""
    text = f"{user_id}:{effective_tickets}"
    return f"{text}:{','.join(ranking)}" if ranking else text


def leaf_is_own(leaf: str, user_id: str, effective_tickets: int) -> bool:
    """The receipt's leaf names its own user and tickets (a ranking may follow)."""
    own = receipt_leaf(user_id, effective_tickets)
    return leaf == own or leaf.startswith(own + ":")


def key_id(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


@dataclass(frozen=True)
class ReceiptKey:
    """The service's public receipt key, as published at /api/fairness/key and in proofs."""

    public_key: str  # 32 bytes, hex

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def to_wire(self) -> dict[str, str]:
        return {"keyId": self.key_id, "publicKey": self.public_key, "algorithm": ALGORITHM}

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> ReceiptKey:
        public, algorithm = d.get("publicKey"), d.get("algorithm", ALGORITHM)
        if not isinstance(public, str) or not _is_hex(public, 32):
            raise ValueError("the receipt key's 'publicKey' must be 32 bytes of hex")
        if algorithm != ALGORITHM:
            raise ValueError(f"unsupported receipt key algorithm {algorithm!r}")
        return cls(public.lower())


def _is_hex(value: str, size: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == size
    except ValueError:
        return False


@dataclass(frozen=True)
class Receipt:
    drop_id: str
    user_id: str
    tickets: int
    effective_tickets: int
    registered_at: int
    leaf: str
    key_id: str
    signature: str = ""

    def message(self) -> bytes:
        """The exact bytes signed (see the module docstring)."""
        body = {
            "dropId": self.drop_id,
            "userId": self.user_id,
            "tickets": self.tickets,
            "effectiveTickets": self.effective_tickets,
            "registeredAt": self.registered_at,
            "leaf": self.leaf,
            "keyId": self.key_id,
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return _DOMAIN + canonical.encode("ascii")

    def signed_by(self, key: ReceiptKey) -> bool:
        """The signature is valid for this receipt under ``key``."""
        if self.key_id != key.key_id or not _is_hex(self.signature, 64):
            return False
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.public_key))
        try:
            public.verify(bytes.fromhex(self.signature), self.message())
        except InvalidSignature:
            return False
        return True

    def to_wire(self) -> dict[str, object]:
        d = asdict(self)
        return {
            "dropId": d["drop_id"],
            "userId": d["user_id"],
            "tickets": d["tickets"],
            "effectiveTickets": d["effective_tickets"],
            "registeredAt": d["registered_at"],
            "leaf": d["leaf"],
            "signature": d["signature"],
            "keyId": d["key_id"],
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> Receipt:
        """Parse a receipt (or `{"receipt": {...}}`); ValueError naming the bad field."""
        inner = d.get("receipt")
        if isinstance(inner, Mapping):
            d = inner

        def text(key: str) -> str:
            value = d.get(key)
            if not isinstance(value, str):
                raise ValueError(f"receipt field {key!r} must be a string")
            return value

        def number(key: str) -> int:
            value = d.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"receipt field {key!r} must be an integer")
            return value

        return cls(
            drop_id=text("dropId"),
            user_id=text("userId"),
            tickets=number("tickets"),
            effective_tickets=number("effectiveTickets"),
            registered_at=number("registeredAt"),
            leaf=text("leaf"),
            key_id=text("keyId"),
            signature=text("signature"),
        )


class ReceiptSigner:
    """Signs receipts with the service's private key (Ed25519 signatures are deterministic,
    so a replayed registration signs to the same bytes)."""

    def __init__(self, seed_hex: str) -> None:
        if not _is_hex(seed_hex, SEED_BYTES):
            raise ValueError("the receipt signing key must be 32 bytes of hex (64 characters)")
        self._private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = ReceiptKey(raw.hex())

    def sign(
        self,
        drop_id: str,
        user_id: str,
        tickets: int,
        effective_tickets: int,
        registered_at: int,
        ranking: Sequence[str] = (),
    ) -> Receipt:
        unsigned = Receipt(
            drop_id=drop_id,
            user_id=user_id,
            tickets=tickets,
            effective_tickets=effective_tickets,
            registered_at=registered_at,
            leaf=receipt_leaf(user_id, effective_tickets, ranking),
            key_id=self.key.key_id,
        )
        signature = self._private.sign(unsigned.message()).hex()
        return Receipt(**{**asdict(unsigned), "signature": signature})


@functools.lru_cache(maxsize=4)
def signer_for(seed_hex: str) -> ReceiptSigner:
    """One signer per key for the life of the process."""
    return ReceiptSigner(seed_hex)
