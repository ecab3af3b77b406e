"""A whole drop as its participants see it on `/events/{dropId}/{userId}`: API → worker → sse."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest

from drop.adapters.nats_bus import Bus
from tests.integration.test_sse import Sse, Stream, open_stream
from tests.support.api_client import DropApi, EventLog, events, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

LOCAL = ("serverTime", "reason", "type")  # added by the sse service to what the worker published


def published(log: EventLog, subject: str, after_version: int) -> list[dict[str, Any]]:
    return [
        e["data"] for s, e in log.items if s == subject and e["data"]["version"] > after_version
    ]


def wire(event: Sse) -> dict[str, Any]:
    return {k: v for k, v in event.data.items() if k not in LOCAL}


Check = Any  # a predicate over one received event


def user_is(status: str, **more: Any) -> Check:
    return lambda e: (
        e.event == "user"
        and e.data["status"] == status
        and all(e.data.get(k) == v for k, v in more.items())
    )


def completed(e: Sse) -> bool:
    return e.event == "drop" and e.data["phase"] == "completed"


async def collect(stream: Stream, seen: list[Sse], *checks: Check) -> None:
    """Read into `seen` until every check matches some event read so far."""
    while not all(any(check(e) for e in seen) for check in checks):
        seen.append(await stream.next(timeout=40))


async def test_a_drop_as_seen_by_a_winner_a_loser_a_promoted_backup_and_strangers(
    api: DropApi, bus: Bus, stack: Stack
) -> None:
    sse = stack.start_app("sse")
    drop_id = uid("sse-life")
    users = [uid(f"u{i}") for i in range(6)]
    async with events(bus, f"drop.{drop_id}.>") as log, AsyncExitStack() as opened:
        await api.create(drop_id, inventory=2, registrationEnd=now_ms() + 4000, purchaseWindow=4)
        for user in users:
            assert (await api.register(drop_id, user, 2)).status_code == 200
        mine: dict[str, Stream] = {}
        strangers: dict[str, Stream] = {}
        opening: dict[str, list[Sse]] = {}
        for i, user in enumerate(users):
            path = f"/events/{drop_id}/{user}"
            mine[user] = await opened.enter_async_context(open_stream(sse, path, api.auth(user)))
            # Half the strangers have no session, half have another user's.
            other = api.auth(users[i - 1]) if i % 2 else {}
            strangers[user] = await opened.enter_async_context(open_stream(sse, path, other))
            opening[user] = await mine[user].take(2)
            await strangers[user].take(2)
        for user in users:
            connected, snapshot = opening[user]
            assert (connected.event, connected.data["phase"]) == ("connected", "registration")
            assert connected.data["participantCount"] == len(users)
            assert (snapshot.event, snapshot.data["status"]) == ("user", "registered")

        await log.phase(drop_id, "purchase", timeout=30)
        proof = (await api.proof(drop_id))["proof"]
        buyer, lapsing = proof["winners"]
        backup = proof["backupWinners"][0]
        losers = [u for u in users if u not in (buyer, lapsing, backup)]
        seen: dict[str, list[Sse]] = {u: [] for u in users}
        await collect(mine[buyer], seen[buyer], user_is("winner"))
        assert (await api.buy(drop_id, buyer))["inventory"] == 1
        await collect(mine[buyer], seen[buyer], user_is("purchased"))
        await collect(mine[lapsing], seen[lapsing], user_is("expired"))
        await collect(mine[backup], seen[backup], user_is("winner", promoted=True))
        await api.buy(drop_id, backup)
        finals = {buyer: user_is("purchased"), lapsing: user_is("expired")}
        finals[backup] = user_is("purchased")
        for user in users:
            await collect(mine[user], seen[user], completed, finals.get(user, user_is("loser")))
        watched: dict[str, list[Sse]] = {u: [] for u in users}
        for user in users:
            await collect(strangers[user], watched[user], completed)

    for user in users:
        connected, snapshot = opening[user]
        got = [e for e in seen[user] if e.event == "user"]
        expected = published(log, f"drop.{drop_id}.user.{user}", snapshot.data["version"])
        # Exactly what the worker published for this user, in order, and nothing else.
        assert [wire(e) for e in got] == expected[: len(got)], user
        drops = [e for e in seen[user] if e.event == "drop"]
        states = published(log, f"drop.{drop_id}.state", connected.data["version"])
        assert [wire(e) for e in drops] == states[: len(drops)], user
        ids = [int(e.id or 0) for e in seen[user]]
        assert ids == sorted(set(ids)) and ids[0] > int(snapshot.id or 0), "ordered, no repeats"

    statuses = {u: [e.data["status"] for e in seen[u] if e.event == "user"] for u in users}
    assert statuses[buyer][0] == "winner" and statuses[buyer][-1] == "purchased"
    assert any(e.data.get("token") for e in seen[buyer] if e.event == "user")
    assert statuses[lapsing][0] == "winner" and statuses[lapsing][-1] == "expired"
    assert statuses[backup][0] == "backup_winner" and statuses[backup][-1] == "purchased"
    for user in losers:
        assert statuses[user][0] == "loser"
    phases = [e.data["phase"] for e in seen[buyer] if e.event == "drop"]
    assert phases == sorted(phases, key=["registration", "purchase", "completed"].index)

    tokens = {e["data"]["token"] for _, e in log.items if e["data"].get("token")}
    assert tokens, "the winners were issued purchase tokens"
    for user in users:
        text = json.dumps([e.data for e in watched[user]])
        assert all(token not in text for token in tokens)
        assert all(e.data["token"] is None for e in watched[user] if e.event == "user")
