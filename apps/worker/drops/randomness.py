"""The drop's public randomness: the beacon round it commits to at creation, and that round
fetched and checked at the draw, each in journaled steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate

from apps.worker import effects
from apps.worker.drops import state
from apps.worker.runtime import current
from drop.adapters.beacon_http import RoundUnavailableError, fetch_verified
from drop.domain import beacon, lottery, receipts
from drop.domain.beacon import BeaconRecord, Chain, Round

# Earlier refusals kept in the proof of a draw that waited: enough to see what went wrong.
KEPT_REFUSALS = 3


async def commit_round(ctx: restate.ObjectContext, registration_end: int) -> dict[str, Any]:
    """The terms the draw is bound to, published at creation: the configured chain and its
    first round at or after registrationEnd, the algorithm, how long the draw waits for the
    round before a fallback, and the key that signs entry receipts. The verifier refuses a
    proof that offers less (`drop.domain.proof_checks`)."""

    def choose() -> dict[str, Any]:
        runtime = current()
        settings = runtime.beacon
        chain = Chain(
            settings.beacon_chain_hash.lower(),
            settings.beacon_public_key.lower(),
            settings.beacon_genesis,
            settings.beacon_period,
            settings.beacon_scheme,
        )
        number = chain.round_at(registration_end)
        return {
            **chain.to_wire(),
            "round": number,
            "roundTime": chain.round_time_ms(number),
            "urls": settings.url_list,
            "algorithm": lottery.ALGORITHM,
            "maxWaitMs": round(settings.beacon_max_wait_seconds * 1000),
            "receiptKey": receipts.signer_for(runtime.secrets.receipt_signing_key).key.to_wire(),
        }

    return await ctx.run_typed("beacon round", choose)


async def fetch_round(
    ctx: restate.ObjectContext, committed: dict[str, Any], now: int
) -> BeaconRecord:
    """The committed round once it is out and its signature checks; retried until the round's
    time plus BEACON_MAX_WAIT_SECONDS, then a fallback that says why (never silently)."""
    settings = await _wait_settings(ctx)
    chain, number = Chain.from_wire(committed), int(committed["round"])
    # Any relay of the chain will do (each answer is verified): the ones named at creation
    # first, then any configured since.
    urls = list(dict.fromkeys([*map(str, committed.get("urls") or []), *settings["urls"]]))
    round_time = chain.round_time_ms(number)
    # The wait promised at creation (drops from before it was committed: today's setting).
    wait_ms = beacon.max_wait_ms(committed)
    if wait_ms is None:
        wait_ms = round(float(settings["maxWait"]) * 1000)
    deadline = round_time + wait_ms
    if now < round_time:
        await ctx.sleep(state.later(round_time, now))
    refused: list[str] = []
    attempt = 0
    while True:
        attempt += 1

        async def fetch() -> dict[str, Any]:
            try:
                value, url = await fetch_verified(urls, chain, number, float(settings["timeout"]))
            except RoundUnavailableError as exc:
                return {"problem": str(exc)}
            return {"round": value.to_wire(), "url": url}

        outcome = await ctx.run_typed(f"beacon round {number} attempt {attempt}", fetch)
        if "round" in outcome:
            earlier = "; ".join(refused[-KEPT_REFUSALS:])
            return BeaconRecord(
                chain,
                number,
                beacon.VERIFIED,
                Round.from_wire(outcome["round"]),
                f"refused before the genuine round arrived: {earlier}" if earlier else "",
                (str(outcome["url"]),),
                wait_ms,
            )
        refused.append(str(outcome["problem"]))
        now = await effects.now_ms(ctx, f"beacon wait {attempt}")
        if now >= deadline:
            reason = (
                f"round {number} could not be had within {wait_ms / 1000:g} s "
                f"of its time ({attempt} attempts); last: {refused[-1]}"
            )
            return BeaconRecord(chain, number, beacon.FALLBACK, None, reason, tuple(urls), wait_ms)
        await ctx.sleep(
            timedelta(milliseconds=min(float(settings["retry"]) * 1000, deadline - now))
        )


async def _wait_settings(ctx: restate.ObjectContext) -> dict[str, Any]:
    """How long and where to wait for the round: process settings, journaled once, so a
    replay on a worker configured otherwise takes the same path."""

    def read() -> dict[str, Any]:
        settings = current().beacon
        return {
            "urls": settings.url_list,
            "maxWait": settings.beacon_max_wait_seconds,
            "retry": settings.beacon_retry_seconds,
            "timeout": settings.beacon_fetch_timeout_seconds,
        }

    return await ctx.run_typed("beacon settings", read)
