"""Registration as the original site does it (SPEC §9): its bot-validation scale, its
behaviour-signal names, extra fields it sends, and the queue-guard messages it re-joins on."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from drop.domain import pow as pow_rules
from tests.contract.client import QUEUE_STREAM_TYPES, typed_stream
from tests.support.api_client import ADMIN, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

HUMAN = {
    "mouseMovements": 57,
    "scrollEvents": 4,
    "keyPresses": 2,
    "focusBlurEvents": 1,
    "visibilityChanges": 0,
    "timeOnPage": 14_250,
    "interactionPatterns": json.dumps({"clickIntervals": [830, 2410, 390, 1670]}),
}
BOT = {
    "mouseMovements": 0,
    "scrollEvents": 0,
    "keyPresses": 0,
    "focusBlurEvents": 0,
    "visibilityChanges": 0,
    "timeOnPage": 180,
    "interactionPatterns": json.dumps({"clickIntervals": [100, 100, 100, 100]}),
}
REQUIRED = "Queue token required"
INVALID = "Invalid or expired queue token"
NOT_READY = "Queue token not ready - please wait for your turn"


async def new_drop(client: httpx.AsyncClient) -> str:
    drop_id = uid("compat-reg")
    start = now_ms()
    body = {
        "dropId": drop_id,
        "inventory": 3,
        "registrationStart": start,
        "registrationEnd": start + 120_000,
        "purchaseWindow": 60,
    }
    r = await client.post("/api/drops", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return drop_id


async def join(client: httpx.AsyncClient, drop_id: str) -> str:
    r = await client.post(
        f"/api/queue/{drop_id}/join", json={"fingerprint": uid("fp"), "deviceModel": "x"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def ready_token(client: httpx.AsyncClient, sse: str, drop_id: str) -> str:
    """Join and wait on the queue stream, by payload type, for the turn to come."""
    token = await join(client, drop_id)
    async with typed_stream(sse, f"/events/queue/{drop_id}/{token}", QUEUE_STREAM_TYPES) as s:
        await s.until(lambda p: p["type"] == "queue_ready", [], timeout=15)
    return token


async def bot_validation(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/api/pow/challenge")
    assert r.status_code == 200, r.text
    challenge = r.json()["challenge"]
    return {
        "fingerprint": uid("fp"),
        "fingerprintConfidence": 90,
        "timingMs": 4_200,
        "powChallenge": challenge,
        "powSolution": pow_rules.solve(challenge, r.json()["difficulty"]),
        "userAgent": "Mozilla/5.0 (the original site sends this too)",
    }


async def register(
    client: httpx.AsyncClient, drop_id: str, token: str | None, signals: dict[str, Any]
) -> httpx.Response:
    body = {
        "userId": uid("u"),
        "tickets": 1,
        "botValidation": await bot_validation(client),
        "behaviorSignals": signals,
        "referrer": "newsletter",  # unknown extras are ignored, not refused
    }
    if token is not None:
        body["queueToken"] = token
    return await client.post(f"/api/drop/{drop_id}/register", json=body)


def refused(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert isinstance(r.json()["code"], str)  # our machine-readable addition


async def test_a_human_passes_at_confidence_90_and_a_bot_does_not(
    guarded: httpx.AsyncClient, stack: Stack
) -> None:
    sse = stack.start_app("sse")
    drop_id = await new_drop(guarded)
    token = await ready_token(guarded, sse, drop_id)
    bot = await register(guarded, drop_id, token, BOT)
    assert (bot.status_code, bot.json()["code"]) == (403, "bot_suspected"), bot.text
    human = await register(guarded, drop_id, token, HUMAN)
    assert human.status_code == 200, human.text
    assert human.json()["success"] is True


async def test_heartbeat_takes_the_original_signal_names(
    guarded: httpx.AsyncClient, stack: Stack
) -> None:
    sse = stack.start_app("sse")
    drop_id = await new_drop(guarded)
    token = await ready_token(guarded, sse, drop_id)
    for signals, expected in ((BOT, 403), (HUMAN, 200)):
        beat = await guarded.post(
            f"/api/queue/{drop_id}/heartbeat",
            json={"token": token, "behaviorSignals": signals, "tabId": 3},
        )
        assert beat.status_code == 200, beat.text
        body = {
            "userId": uid("u"),
            "tickets": 1,
            "botValidation": await bot_validation(guarded),
            "queueToken": token,
        }
        r = await guarded.post(f"/api/drop/{drop_id}/register", json=body)
        assert r.status_code == expected, r.text  # judged on the heartbeat's signals


async def test_queue_guard_messages(guarded: httpx.AsyncClient, stack: Stack) -> None:
    sse = stack.start_app("sse")
    drop_id = await new_drop(guarded)
    refused(await register(guarded, drop_id, None, HUMAN), 400, REQUIRED)
    refused(await register(guarded, drop_id, "not-a-token", HUMAN), 403, INVALID)
    first = await ready_token(guarded, sse, drop_id)
    await ready_token(guarded, sse, drop_id)  # the room holds two
    waiting = await join(guarded, drop_id)
    refused(await register(guarded, drop_id, waiting, HUMAN), 429, NOT_READY)
    assert (await register(guarded, drop_id, first, HUMAN)).status_code == 200
    refused(await register(guarded, drop_id, first, HUMAN), 403, INVALID)  # used
