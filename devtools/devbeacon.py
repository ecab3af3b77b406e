"""A local test beacon: a drand-shaped chain with a fixed dev key, for `make dev` and tests.

Rounds are signed with the same scheme as drand's (drop.domain.beacon), so the worker and the
verifier check them with the code that checks the real chain. Like drand, a round whose time
has not come is refused (425): nobody learns a value early. Tests can make one round's answer
tampered or unavailable through /control/{round}.

Run: ``python -m devtools.devbeacon --port 8090 --genesis <unix s> --period 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import time
from typing import Literal

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from drop.domain import beacon
from drop.domain.beacon import Chain, Round, Signer

DEV_KEY_SEED = hashlib.sha256(b"product-drop/devbeacon/v1").digest()
Mode = Literal["honest", "bad-signature", "bad-randomness", "down"]


def dev_chain(genesis: int, period: int, scheme: str = beacon.CHAINED) -> Chain:
    """The dev chain's parameters; its hash names the key, timing and scheme together."""
    public_key = Signer(DEV_KEY_SEED).public_key
    material = f"product-drop/devbeacon|{public_key}|{genesis}|{period}|{scheme}".encode()
    return Chain(hashlib.sha256(material).hexdigest(), public_key, genesis, period, scheme)


def settings_env(chain: Chain, url: str, max_wait_s: float, retry_s: float) -> dict[str, str]:
    """The worker's BeaconSettings pointing at this beacon."""
    return {
        "BEACON_CHAIN_HASH": chain.chain_hash,
        "BEACON_PUBLIC_KEY": chain.public_key,
        "BEACON_GENESIS": str(chain.genesis),
        "BEACON_PERIOD": str(chain.period),
        "BEACON_SCHEME": chain.scheme,
        "BEACON_URLS": url,
        "BEACON_MAX_WAIT_SECONDS": str(max_wait_s),
        "BEACON_RETRY_SECONDS": str(retry_s),
    }


class Control(BaseModel):
    mode: Mode


def build_app(chain: Chain) -> FastAPI:
    signer = Signer(DEV_KEY_SEED)
    # Chained rounds need every earlier signature: computed once each (~1 ms a round).
    signed: dict[int, Round] = {}
    modes: dict[int, Mode] = {}
    served: dict[int, int] = {}
    answered = asyncio.Condition()
    genesis_seed = hashlib.sha256(bytes.fromhex(chain.chain_hash)).hexdigest()

    def round_value(number: int) -> Round:
        if chain.scheme == beacon.UNCHAINED:  # no link to the previous round: sign it alone
            if number not in signed:
                signed[number] = signer.sign(chain.scheme, number)
            return signed[number]
        start = max((n for n in signed if n < number), default=0)
        for n in range(start + 1, number + 1):
            previous = signed[n - 1].signature if n > 1 else genesis_seed
            signed[n] = signer.sign(chain.scheme, n, previous)
        return signed[number]

    def tampered(value: Round, mode: Mode) -> Round:
        if mode == "bad-signature":  # a well-formed signature, of another round
            other = signer.sign(chain.scheme, value.round + 1, value.previous_signature)
            return Round(value.round, other.signature, other.randomness, value.previous_signature)
        flipped = "0" if value.randomness[0] != "0" else "1"
        return Round(
            value.round, value.signature, flipped + value.randomness[1:], value.previous_signature
        )

    app = FastAPI(title="Product Drop test beacon")

    @app.get("/info")
    async def info() -> dict[str, object]:
        return {
            "public_key": chain.public_key,
            "period": chain.period,
            "genesis_time": chain.genesis,
            "hash": chain.chain_hash,
            "schemeID": chain.scheme,
        }

    @app.get("/{chain_hash}/public/{number}")
    async def public(chain_hash: str, number: int) -> dict[str, object]:
        if chain_hash != chain.chain_hash:
            raise HTTPException(404, f"unknown chain {chain_hash}")
        if number < 1:
            raise HTTPException(400, "rounds start at 1")
        if time.time() * 1000 < chain.round_time_ms(number):
            raise HTTPException(425, f"round {number} is not published yet")
        async with answered:
            served[number] = served.get(number, 0) + 1
            answered.notify_all()
        mode = modes.get(number, "honest")
        if mode == "down":
            raise HTTPException(503, "the beacon is down (test control)")
        value = round_value(number)
        return (value if mode == "honest" else tampered(value, mode)).to_wire()

    @app.post("/control/{number}")
    async def control(number: int, body: Control) -> dict[str, object]:
        modes[number] = body.mode
        return {"round": number, "mode": body.mode}

    @app.get("/control/{number}")
    async def served_count(number: int, at_least: int = 0) -> dict[str, object]:
        """How often the round was asked for; waits (up to 20 s) until `at_least`."""
        async with answered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    answered.wait_for(lambda: served.get(number, 0) >= at_least), 20
                )
        return {
            "round": number,
            "mode": modes.get(number, "honest"),
            "served": served.get(number, 0),
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.devbeacon")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--genesis", type=int, default=None, help="unix seconds (default: now)")
    parser.add_argument("--period", type=int, default=1)
    parser.add_argument("--scheme", choices=beacon.SCHEMES, default=beacon.CHAINED)
    args = parser.parse_args()
    genesis = int(time.time()) if args.genesis is None else args.genesis
    chain = dev_chain(genesis, args.period, args.scheme)
    uvicorn.run(build_app(chain), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
