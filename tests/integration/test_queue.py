"""The waiting room's durable object through Restate ingress: places, rate, cap, expiry,
the admission loop's life, and a worker crash in the middle of it.

Each test sends its own queue parameters with the joins (as the API does from its
settings), so timings are short without a special worker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from apps.api import queue_view
from drop import events as subjects
from drop.adapters.nats_bus import Bus
from tests.support.api_client import EventLog, events, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def cfg(rate: float, cap: int, ready_s: float = 60, max_age_s: float = 600) -> dict[str, Any]:
    return {"rate": rate, "maxConcurrent": cap, "readyWindowS": ready_s, "maxAgeS": max_age_s}


def digest() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def ingress(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as client:
        yield client


class Queue:
    """One drop's QueueAdmission object, called the way the API calls it."""

    def __init__(self, client: httpx.AsyncClient, config: dict[str, Any]) -> None:
        self.client, self.config, self.drop_id = client, config, uid("q")

    async def call(self, handler: str, body: Any = None) -> httpx.Response:
        return await self.client.post(f"/QueueAdmission/{self.drop_id}/{handler}", json=body)

    async def try_join(self, fp: str | None = None, ip: str | None = None) -> httpx.Response:
        body = {"fingerprintHash": fp or digest(), "ipHash": ip or digest(), "config": self.config}
        return await self.call("joinQueue", body)

    async def join(self, fp: str | None = None, ip: str | None = None) -> dict[str, Any]:
        r = await self.try_join(fp, ip)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def check(self, token: str) -> dict[str, Any]:
        r = await self.call("checkToken", {"token": token})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def stats(self) -> dict[str, Any]:
        r = await self.call("getQueueStats")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def until(
        self, probe: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """The stats once `probe` holds for them (it becomes true eventually)."""

        async def met() -> dict[str, Any]:
            stats = await self.stats()
            assert probe(stats), f"stats now: {stats}"
            return stats

        return await eventually_async(met, what="the queue condition", timeout=timeout)


def of_type(log: EventLog, kind: str) -> list[dict[str, Any]]:
    return [e for _, e in log.items if e["type"] == kind]


async def count_events(log: EventLog, kind: str, n: int, timeout: float = 20.0) -> None:
    """Return once `kind` events have named `n` different tokens."""
    tokens: set[str] = set()

    def enough(_: str, event: dict[str, Any]) -> bool:
        if event["type"] == kind:
            tokens.add(event["data"]["token"])
        return len(tokens) >= n

    await log.wait_for(enough, timeout)


async def test_200_concurrent_joins_get_places_1_to_200(ingress: httpx.AsyncClient) -> None:
    q = Queue(ingress, cfg(rate=0.001, cap=50))  # nobody is admitted during the test
    joined = await asyncio.gather(*(q.join() for _ in range(200)))
    assert sorted(j["position"] for j in joined) == list(range(1, 201))
    assert all(j["aheadOfYou"] == j["position"] - 1 and j["status"] == "waiting" for j in joined)
    assert len({j["token"] for j in joined}) == 200
    by_place = {j["position"]: j["token"] for j in joined}
    # A token leaving from the middle of the line moves everyone behind it up by exactly one.
    r = await q.call("markTokenExpired", {"token": by_place[100]})
    assert r.status_code == 200 and r.json()["status"] == "expired", r.text
    checked = await asyncio.gather(*(q.check(by_place[p]) for p in range(1, 201)))
    places = [c["position"] for c in checked if c["status"] == "waiting"]
    assert places == list(range(1, 100)) + list(range(100, 200))
    assert checked[150]["estimatedWaitSeconds"] > checked[0]["estimatedWaitSeconds"]
    stats = await q.stats()
    assert (stats["totalIssued"], stats["waitingCount"], stats["readyCount"]) == (200, 199, 0)


async def test_the_mirror_gives_the_exact_place_after_the_line_moves(
    ingress: httpx.AsyncClient, bus: Bus
) -> None:
    """A tick that moves the line tells waiting tokens their new place by event only; the
    api's reading of the mirror (the token's view and the line's `_meta`) still gives the
    place the object itself gives, and the last event each token got says the same."""
    q = Queue(ingress, cfg(rate=100, cap=3))
    joins = [{"fingerprintHash": digest(), "ipHash": digest()} for _ in range(10)]
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        r = await q.call("joinBatch", {"joins": joins, "config": q.config})
        assert r.status_code == 200, r.text
        tokens = [result["ok"]["token"] for result in r.json()["results"]]
        await count_events(log, "queue_ready", 3)
        await q.until(lambda s: s["readyCount"] == 3 and s["waitingCount"] == 7)
        told: dict[str, int] = {}
        for subject, event in log.items:
            if event["type"] == "queue_position" and ":t" in event["id"]:
                told[subject.rsplit(".", 1)[1]] = event["data"]["position"]
    # The tick that admitted the third told every token still waiting (earlier ticks may
    # also have told tokens that were admitted later).
    assert set(tokens[3:]) <= set(told) <= set(tokens[1:]), "a moving tick told the wrong tokens"
    fields = ("status", "position", "aheadOfYou", "totalInQueue", "estimatedWaitSeconds")
    for place, token in enumerate(tokens[3:], start=1):
        exact = await q.check(token)
        mirrored = await queue_view.token_view(bus, q.drop_id, token)
        assert {f: mirrored[f] for f in fields} == {f: exact[f] for f in fields}
        assert told[token] == exact["position"] == place


async def test_a_join_into_an_empty_line_is_ready_at_once_and_everything_says_so(
    ingress: httpx.AsyncClient, bus: Bus
) -> None:
    """Nobody waits and the budget allows: the join itself admits, with no tick. The
    object, the api's reading of the mirror and the last event on the token's subject (what
    the event stream opens with) agree; the next join, over the ready cap, waits."""
    q = Queue(ingress, cfg(rate=100, cap=1, ready_s=60))
    first = await q.join()
    assert (first["status"], first["position"], first["aheadOfYou"]) == ("ready", 0, 0)
    exact = await q.check(first["token"])
    assert (exact["status"], exact["expiresAt"]) == ("ready", first["expiresAt"])
    assert exact["expiresAt"] == exact["readyAt"] + 60_000 and exact["readyAt"] >= exact["joinedAt"]
    mirrored = await queue_view.token_view(bus, q.drop_id, first["token"])
    assert {k: mirrored[k] for k in ("status", "expiresAt", "readyAt")} == {
        k: exact[k] for k in ("status", "expiresAt", "readyAt")
    }
    subject = subjects.queue_subject(q.drop_id, first["token"])
    last = json.loads((await bus.js.get_last_msg(subjects.QUEUE_STREAM, subject)).data)
    assert (last["type"], last["data"]) == (
        "queue_ready",
        {"token": first["token"], "expiresAt": first["expiresAt"]},
    )
    stats = await q.stats()
    assert (stats["totalAdmitted"], stats["readyCount"], stats["waitingCount"]) == (1, 1, 0)
    assert stats["admissionLoopActive"] is False  # admitted without the loop
    second = await q.join()
    assert (second["status"], second["position"]) == ("waiting", 1)
    assert (await queue_view.token_view(bus, q.drop_id, second["token"]))["status"] == "waiting"
    assert (await q.stats())["admissionLoopActive"] is True


async def test_admission_honours_the_rate(ingress: httpx.AsyncClient) -> None:
    rate, n = 50.0, 200
    q = Queue(ingress, cfg(rate=rate, cap=1000))
    joined = await asyncio.gather(*(q.join() for _ in range(n)))
    await q.until(lambda s: s["totalAdmitted"] == n and not s["admissionLoopActive"])
    tokens = await asyncio.gather(*(q.check(j["token"]) for j in joined))
    start = min(t["joinedAt"] for t in tokens)
    ready_at = sorted(t["readyAt"] - start for t in tokens)
    # Token bucket: by time t at most 1 + rate·t admitted (never faster than the rate) ...
    for k, at in enumerate(ready_at, start=1):
        assert k <= 1 + rate * at / 1000 + 1e-6, (k, at)
    # ... and not much slower than a bucket with no burst at all would be, given when the joins
    # really arrived: the object takes them one at a time, so on a loaded machine the last
    # one may come seconds after the first, and nobody is admitted before they join. Plus
    # 2.5 s: make test runs two stacks and browsers on the same two cores, and CI saw the
    # last admission 2.5 s late; half the rate would still be 4 s late here and fail.
    paced = -1 / rate
    for at in sorted(t["joinedAt"] - start for t in tokens):
        paced = max(at / 1000, paced + 1 / rate)
    ideal = (n - 1) / rate
    assert ideal <= ready_at[-1] / 1000 <= paced * 1.15 + 2.5, (ready_at[-1], paced)


async def test_ready_cap_and_unused_tokens_expire_and_free_their_slot(
    ingress: httpx.AsyncClient, bus: Bus
) -> None:
    cap, n = 3, 9
    q = Queue(ingress, cfg(rate=100, cap=cap, ready_s=1))
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        joined = [await q.join() for _ in range(n)]
        await count_events(log, "queue_expired", n)
    ready_now: set[str] = set()
    most = 0
    for _, event in log.items:  # publish order: an expiry comes before the admission it allows
        if event["type"] == "queue_ready":
            ready_now.add(event["data"]["token"])
        elif event["type"] == "queue_expired":
            ready_now.discard(event["data"]["token"])
        most = max(most, len(ready_now))
    assert most == cap
    assert {e["data"]["token"] for e in of_type(log, "queue_ready")} == {j["token"] for j in joined}
    stats = await q.until(lambda s: not s["admissionLoopActive"])
    assert (stats["totalAdmitted"], stats["totalExpired"], stats["readyCount"]) == (n, n, 0)
    snapshot = await (await bus.kv("queue_tokens")).get(f"{q.drop_id}.{joined[0]['token']}")
    assert b'"status":"expired"' in (snapshot.value or b"").replace(b" ", b"")


async def test_a_used_token_frees_its_slot_at_once(ingress: httpx.AsyncClient, bus: Bus) -> None:
    q = Queue(ingress, cfg(rate=100, cap=1, ready_s=60))
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        first, second = await q.join(), await q.join()
        await count_events(log, "queue_ready", 1)
        assert (await q.check(second["token"]))["status"] == "waiting"
        r = await q.call("markTokenUsed", {"token": first["token"], "userId": "alice"})
        assert r.status_code == 200 and r.json()["status"] == "used", r.text
        await count_events(log, "queue_ready", 2, timeout=5)
    again = await q.call("markTokenUsed", {"token": first["token"], "userId": "alice"})
    assert again.status_code == 200  # the same user may retry
    other = await q.call("markTokenUsed", {"token": first["token"], "userId": "mallory"})
    assert other.status_code == 409 and "queue_token_used" in other.text
    stats = await q.stats()
    assert (stats["totalUsed"], stats["readyCount"], stats["waitingCount"]) == (1, 1, 0)


async def test_loop_stops_when_empty_and_restarts_on_the_next_join(
    ingress: httpx.AsyncClient, bus: Bus
) -> None:
    q = Queue(ingress, cfg(rate=50, cap=10))
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        await q.join()
        await q.join()
        await count_events(log, "queue_ready", 2)
        idle = await q.until(lambda s: not s["admissionLoopActive"])
        assert (idle["waitingCount"], idle["totalAdmitted"]) == (0, 2)
        late = await q.join()
        await count_events(log, "queue_ready", 3)
    assert (await q.check(late["token"]))["status"] == "ready"
    done = await q.until(lambda s: not s["admissionLoopActive"])
    assert (done["totalIssued"], done["totalAdmitted"]) == (3, 3)


async def test_waiting_tokens_expire_after_max_age_and_free_the_device(
    ingress: httpx.AsyncClient, bus: Bus
) -> None:
    q = Queue(ingress, cfg(rate=100, cap=1, ready_s=60, max_age_s=1))
    fp, ip = digest(), digest()
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        first = await q.join()
        waiting = [await q.join(fp=fp, ip=ip), await q.join()]
        await count_events(log, "queue_expired", 2)
    expired = {e["data"]["token"] for e in of_type(log, "queue_expired")}
    assert expired == {w["token"] for w in waiting}
    assert (await q.check(first["token"]))["status"] == "ready"
    stats = await q.until(lambda s: not s["admissionLoopActive"])
    assert (stats["waitingCount"], stats["totalExpired"]) == (0, 2)
    rejoined = await q.join(fp=fp, ip=ip)  # the expired token no longer holds the device
    assert rejoined["status"] == "waiting"


async def test_one_token_per_fingerprint_and_three_per_ip(ingress: httpx.AsyncClient) -> None:
    q = Queue(ingress, cfg(rate=0.001, cap=1))
    fp, ip = digest(), digest()
    await q.join(fp=fp, ip=ip)
    second = await q.try_join(fp=fp)
    assert second.status_code == 409 and "queue_fingerprint_limit" in second.text
    await q.join(ip=ip)
    await q.join(ip=ip)
    fourth = await q.try_join(ip=ip)
    assert fourth.status_code == 409 and "queue_ip_limit" in fourth.text
    assert (await q.stats())["totalIssued"] == 3


async def test_worker_killed_mid_loop_loses_no_token(
    ingress: httpx.AsyncClient, bus: Bus, stack: Stack
) -> None:
    n = 60
    q = Queue(ingress, cfg(rate=20, cap=1000))
    async with events(bus, f"queue.{q.drop_id}.>") as log:
        joined = await asyncio.gather(*(q.join() for _ in range(n)))
        await count_events(log, "queue_ready", 5)
        await asyncio.to_thread(stack.restart, "worker", kill=True)
        done = await q.until(
            lambda s: s["totalAdmitted"] == n and not s["admissionLoopActive"], timeout=40
        )
        await count_events(log, "queue_ready", n)
    assert (done["totalIssued"], done["waitingCount"], done["readyCount"]) == (n, 0, n)
    checked = await asyncio.gather(*(q.check(j["token"]) for j in joined))
    assert all(c["status"] == "ready" for c in checked)
    assert {e["data"]["token"] for e in of_type(log, "queue_ready")} == {j["token"] for j in joined}
