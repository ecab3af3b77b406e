#!/usr/bin/env python3
"""Restate's request-identity key pair, with the standard library only.

deploy.py and `docker compose` run this before anything is installed: restate-server signs
its calls to the worker with the private key (a PKCS#8 PEM file), and the worker checks
them against the public key, written `publickeyv1_<base58 of the raw 32 bytes>`.

    python fly/identity.py --dir DIR    # DIR/restate-identity.pem (0600) and .pub, if missing

The public key is derived by Ed25519 scalar multiplication (RFC 8032, section 5.1.5); the
tests check it against the `cryptography` package.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import sys
from pathlib import Path

PREFIX = "publickeyv1_"
PEM_NAME, PUB_NAME = "restate-identity.pem", "restate-identity.pub"
# PKCS#8 wrapping of a 32-byte Ed25519 seed (OID 1.3.101.112), before the seed itself.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
Point = tuple[int, int]


def _add(a: Point, b: Point) -> Point:
    """Affine addition on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P)
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P)
    return x3 % _P, y3 % _P


def _base_point() -> Point:
    y = 4 * pow(5, _P - 2, _P) % _P
    u = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(u, (_P + 3) // 8, _P)
    if (x * x - u) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return (_P - x, y) if x % 2 else (x, y)


def _multiply(k: int, point: Point) -> Point:
    result: Point = (0, 1)
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def raw_public_key(seed: bytes) -> bytes:
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar = (scalar & ((1 << 254) - 8)) | (1 << 254)
    x, y = _multiply(scalar, _base_point())
    return (y | (x & 1) << 255).to_bytes(32, "little")


def seed_of(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    der = base64.b64decode(body)
    if len(der) != 48 or not der.startswith(_PKCS8_ED25519):
        raise ValueError("not an unencrypted PKCS#8 Ed25519 private key")
    return der[16:]


def pem_of(seed: bytes) -> str:
    body = base64.b64encode(_PKCS8_ED25519 + seed).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"


def public_key_of(pem: str) -> str:
    return PREFIX + base58(raw_public_key(seed_of(pem)))


def new_private_pem() -> str:
    return pem_of(secrets.token_bytes(32))


def ensure_pair(directory: Path) -> tuple[Path, str]:
    """Keep the pair in `directory`, generating it when missing; returns (pem path, public)."""
    directory.mkdir(parents=True, exist_ok=True)
    pem_path, pub_path = directory / PEM_NAME, directory / PUB_NAME
    if not pem_path.exists():
        fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_private_pem())
    public = public_key_of(pem_path.read_text())
    pub_path.write_text(public + "\n")
    pub_path.chmod(0o644)
    return pem_path, public


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fly/identity.py", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, type=Path, help="where the pair is kept")
    args = parser.parse_args(argv)
    _, public = ensure_pair(args.dir)
    print(public)
    return 0


if __name__ == "__main__":
    sys.exit(main())
