"""A whole drop seen through the original contract (SPEC §9): typed payloads on the streams,
every status value, the first `user` event's credits, and CORS for another origin."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.contract.client import (
    STATUSES,
    USER_FIELDS,
    USER_STREAM_TYPES,
    TypedStream,
    typed_stream,
    user_is,
)
from tests.support.api_client import DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ALLOWED = "http://localhost:3000"  # in the stack's default CORS_ORIGINS


def phase_is(phase: str) -> Any:
    return lambda p: p["type"] in ("connected", "drop") and p["phase"] == phase


async def opening(stream: TypedStream) -> tuple[dict[str, Any], dict[str, Any]]:
    connected, user = await stream.next(), await stream.next()
    assert (connected["type"], user["type"]) == ("connected", "user")
    assert all(name in user for name in USER_FIELDS), set(USER_FIELDS) - set(user)
    return connected, user


async def test_every_status_of_a_whole_drop_arrives_typed(api: DropApi, stack: Stack) -> None:
    sse = stack.start_app("sse")
    drop_id, watcher_id = uid("compat"), uid("watch")
    users = [uid(f"c{i}") for i in range(6)]
    await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 4000, purchaseWindow=4)
    seen: dict[str, list[dict[str, Any]]] = {u: [] for u in [*users, watcher_id]}
    async with AsyncExitStack() as opened:
        path = f"/events/{drop_id}/{watcher_id}"
        watcher = await opened.enter_async_context(typed_stream(sse, path, USER_STREAM_TYPES))
        seen[watcher_id].extend(await opening(watcher))
        for user in users:
            assert (await api.register(drop_id, user, 3)).status_code == 200
        streams = {
            u: await opened.enter_async_context(
                typed_stream(sse, f"/events/{drop_id}/{u}", USER_STREAM_TYPES, api.auth(u))
            )
            for u in users
        }
        for user in users:
            seen[user].extend(await opening(streams[user]))
            assert seen[user][1]["status"] == "registered"

        await watcher.until(phase_is("purchase"), seen[watcher_id], timeout=30)
        proof = (await api.proof(drop_id))["proof"]
        (buyer, lapsing), backup = proof["winners"], proof["backupWinners"][0]
        losers = [u for u in users if u not in (buyer, lapsing, backup)]
        await streams[buyer].until(user_is("winner"), seen[buyer], 30)
        await api.buy(drop_id, buyer)
        await streams[buyer].until(user_is("purchased"), seen[buyer], 30)
        waiting = await streams[backup].until(user_is("backup_winner"), seen[backup], 30)
        assert (waiting["backupPosition"], waiting["backupsAhead"]) == (1, 0)
        await streams[lapsing].until(user_is("expired"), seen[lapsing], 30)
        await streams[backup].until(user_is("winner", promoted=True), seen[backup], 30)
        await api.buy(drop_id, backup)
        await streams[backup].until(user_is("purchased"), seen[backup], 30)
        for user in losers:
            credited = await streams[user].until(
                lambda p: user_is("loser")(p) and p["rolloverBalance"] > 0, seen[user], 40
            )
            assert credited["rolloverBalance"] == credited["paidEntries"] == 2
        await watcher.until(phase_is("completed"), seen[watcher_id], timeout=30)

    statuses = {p["status"] for log in seen.values() for p in log if p["type"] == "user"}
    assert statuses == set(STATUSES)
    assert all(p["type"] in USER_STREAM_TYPES for log in seen.values() for p in log)

    # Next drop: before entering, a loser's first `user` event prices the entry from their
    # real credits and loyalty (the same numbers the API reports).
    second = uid("compat-next")
    await api.create(second, inventory=1, registrationEnd=now_ms() + 60_000)
    loser = losers[0]
    balance = (await api.client.get(f"/api/drop/rollover/{loser}")).json()["balance"]
    loyalty = (await api.client.get(f"/api/drop/loyalty/{loser}")).json()
    async with typed_stream(sse, f"/events/{second}/{loser}", USER_STREAM_TYPES) as s:
        _, first = await opening(s)
    assert first["status"] == "not_registered"
    assert first["rolloverBalance"] == balance == 2
    assert (first["loyaltyTier"], first["loyaltyMultiplier"]) == (
        loyalty["tier"],
        loyalty["multiplier"],
    )


async def test_another_origin_opens_the_streams_directly(api: DropApi, stack: Stack) -> None:
    sse = stack.start_app("sse")
    drop_id = uid("compat-cors")
    await api.create(drop_id, registrationEnd=now_ms() + 60_000)
    path = f"/events/{drop_id}/{uid('u')}"
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id",
    }
    async with httpx.AsyncClient(base_url=sse) as client:
        ok = await client.options(path, headers={"Origin": ALLOWED, **preflight})
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert ok.headers["access-control-allow-credentials"] == "true"
        no = await client.options(path, headers={"Origin": "http://elsewhere.test", **preflight})
        assert no.status_code >= 400
        assert "access-control-allow-origin" not in no.headers
    async with typed_stream(sse, path, USER_STREAM_TYPES, {"Origin": ALLOWED}) as s:
        assert s.response.headers["access-control-allow-origin"] == ALLOWED
        assert s.response.headers["access-control-allow-credentials"] == "true"
        await opening(s)
    other = {"Origin": "http://elsewhere.test"}
    async with typed_stream(sse, path, USER_STREAM_TYPES, other) as s:
        assert "access-control-allow-origin" not in s.response.headers
