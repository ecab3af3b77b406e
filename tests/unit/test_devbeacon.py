"""The local test beacon: an unchained chain answers any round at once with a genuine value
(compose runs it from a fixed genesis, so rounds are millions in)."""

from __future__ import annotations

import time

import httpx

from devtools import devbeacon
from drop.domain import beacon
from drop.domain.beacon import Round


async def test_an_unchained_round_far_from_genesis_is_signed_at_once_and_verifies() -> None:
    chain = devbeacon.dev_chain(int(time.time()) - 10_000_000, 3, beacon.UNCHAINED)
    number = chain.round_at(int(time.time() * 1000)) - 1
    assert number > 3_000_000
    transport = httpx.ASGITransport(devbeacon.build_app(chain))
    client = httpx.AsyncClient(transport=transport, base_url="http://beacon")
    began = time.monotonic()
    answer = await client.get(f"/{chain.chain_hash}/public/{number}")
    assert time.monotonic() - began < 2  # one signature, not millions
    assert answer.status_code == 200, answer.text
    assert beacon.problems(chain, Round.from_wire(answer.json()), number) == []
    assert (await client.get(f"/{chain.chain_hash}/public/{number + 10}")).status_code == 425
    await client.aclose()
