"""Reading one round of a drand chain over its HTTP API (`GET {url}/{chainhash}/public/{r}`)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from drop.domain.beacon import Chain, Round, problems


class RoundUnavailableError(Exception):
    """No URL gave a genuine round; the message says what each one answered."""


async def fetch_verified(
    urls: Sequence[str], chain: Chain, number: int, timeout: float
) -> tuple[Round, str]:
    """The first genuine answer for round ``number`` and the URL that gave it.

    An answer whose signature or randomness does not check is refused like an outage: a
    relay cannot feed the draw a value the chain did not sign.
    """
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        for url in urls:
            where = f"{url}/{chain.chain_hash}/public/{number}"
            try:
                response = await client.get(where)
            except httpx.HTTPError as exc:
                failures.append(f"{url}: unreachable ({type(exc).__name__})")
                continue
            if response.status_code != 200:
                failures.append(f"{url}: HTTP {response.status_code}")
                continue
            try:
                body = response.json()
                value = Round.from_wire(body if isinstance(body, dict) else {})
            except ValueError as exc:
                failures.append(f"{url}: not a beacon round ({exc})")
                continue
            wrong = problems(chain, value, number)
            if wrong:
                failures.append(f"{url}: refused, {'; '.join(wrong)}")
                continue
            return value, url
    raise RoundUnavailableError("; ".join(failures) or "no beacon URL is configured")
