"""A retry converges: an answer lost on its way back never locks its sender out.

The lost answers are real: a registration whose answer (session and recovery code
included) the client dropped, and a queue join whose answer never came because NATS was
paused (SIGSTOP on the test stack's nats-server) right as it was sent, so the client gave
up while the place was being made.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from devtools.devstack import Proc
from drop.adapters.nats_bus import Bus
from tests.support.api_client import ADMIN, DropApi, events, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration


def no_session_given(r: httpx.Response) -> None:
    assert "x-session-token" not in r.headers, r.headers
    assert not any(c.startswith("drop_session=") for c in r.headers.get_list("set-cookie"))


async def post_register(
    api: DropApi, drop_id: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """Exactly these headers, as a client of the original services: no cookie, no secret."""
    api.client.cookies.clear()
    r = await api.client.post(f"/api/drop/{drop_id}/register", json=body, headers=headers)
    api.client.cookies.clear()
    return r


@contextmanager
def paused(proc: Proc) -> Iterator[None]:
    assert proc.popen is not None
    os.kill(proc.popen.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.popen.pid, signal.SIGCONT)


async def test_a_lost_registration_answer_converges_without_a_claim_secret(
    api: DropApi, bus: Bus
) -> None:
    drop_id = uid("retry")
    await api.create(drop_id, inventory=1, registrationEnd=now_ms() + 4000, purchaseWindow=30)
    user, key = uid("legacy"), str(uuid.uuid4())
    body = {"userId": user, "tickets": 2}
    lost = await post_register(api, drop_id, body, {"Idempotency-Key": key})
    assert lost.status_code == 200, lost.text  # ...and dropped: no session, no code kept
    first = lost.json()
    code = first.pop("recoveryCode")

    for _ in range(2):
        retry = await post_register(api, drop_id, body, {"Idempotency-Key": key})
        assert retry.status_code == 200, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        no_session_given(retry)
        again = retry.json()
        assert again.pop("sessionIssued") is False and "/api/session/recover" in again.pop(
            "recoverWith"
        )
        assert again.pop("recoveryCode") == code
        assert again == first

    # Still scoped to caller and body.
    other_body = await post_register(api, drop_id, {**body, "tickets": 3}, {"Idempotency-Key": key})
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    wrong_secret = {"Idempotency-Key": key, "X-Claim-Secret": uuid.uuid4().hex}
    for headers in ({"Idempotency-Key": str(uuid.uuid4())}, wrong_secret):
        foreign = await post_register(api, drop_id, body, headers)
        assert foreign.status_code == 403 and foreign.json()["code"] == "user_claimed"
        assert "recoveryCode" not in foreign.json()
        no_session_given(foreign)

    # The status is the drops index, a mirror that may not have caught up with the entry yet.
    async def counted() -> int:
        count = int((await api.status(drop_id))["participantCount"])
        assert count > 0, "the entry is not in the drops index yet"
        return count

    assert await eventually_async(counted, what=f"{drop_id}'s entry indexed") == 1

    # The recovery path the replay names gives the person a session; they win and buy.
    assert (await api.recover(user, code)).status_code == 200
    await api.draw_after_close(bus, drop_id)
    assert (await api.me(drop_id, user))["status"] == "winner"
    bought = await api.buy(drop_id, user)
    assert bought["success"] is True and bought["inventory"] == 0


async def test_a_short_key_replays_the_answer_without_the_recovery_code(api: DropApi) -> None:
    """A key too short to be unguessable cannot carry the code: the answer still converges."""
    drop_id = uid("retry")
    await api.create(drop_id, registrationEnd=now_ms() + 600_000)
    body = {"userId": uid("legacy"), "tickets": 1}
    assert (await post_register(api, drop_id, body, {"Idempotency-Key": "k1"})).status_code == 200
    retry = await post_register(api, drop_id, body, {"Idempotency-Key": "k1"})
    assert retry.status_code == 200 and retry.json()["sessionIssued"] is False, retry.text
    assert "recoveryCode" not in retry.json()
    no_session_given(retry)


@pytest.fixture(scope="module")
def queue_url(stack: Stack) -> Iterator[str]:
    url, proc = start_api(stack, "api-retry-queue", {"QUEUE_ENABLED": "true"})
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
async def client(queue_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=queue_url, timeout=60) as c:
        yield c


async def open_drop(client: httpx.AsyncClient) -> str:
    drop_id, start = uid("rq"), now_ms()
    body = {
        "dropId": drop_id,
        "inventory": 5,
        "registrationStart": start,
        "registrationEnd": start + 600_000,
        "purchaseWindow": 60,
    }
    r = await client.post("/api/drops", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return drop_id


PLACE_MADE = ("queue_position", "queue_ready")


def device(fp: str, ip: str, key: str | None = None) -> dict[str, Any]:
    headers = {"X-Forwarded-For": ip, **({"Idempotency-Key": key} if key else {})}
    return {"json": {"fingerprint": fp}, "headers": headers}


async def test_a_lost_join_retried_from_the_same_device_gets_the_same_place(
    client: httpx.AsyncClient, stack: Stack, bus: Bus
) -> None:
    drop_id = await open_drop(client)
    fp, ip = uid("fp"), "10.9.8.7"
    join = f"/api/queue/{drop_id}/join"
    async with events(bus, f"queue.{drop_id}.>") as log:
        with paused(stack.procs["nats"]), pytest.raises(httpx.ReadTimeout):
            await client.post(join, **device(fp, ip), timeout=1.5)
        # The place was made anyway, once NATS was back: its first event says so (ready
        # when the join admitted it into the empty line, else its position).
        await log.wait_for(lambda _, e: e["type"] in PLACE_MADE)
    subject = next(s for s, e in log.items if e["type"] in PLACE_MADE)
    token = subject.rsplit(".", 1)[1]

    again = await client.post(join, **device(fp, ip))
    assert again.status_code == 200, again.text
    assert again.json()["token"] == token and again.json()["status"] in ("waiting", "ready")
    # A second rejoin is the same place again, and the line holds one place.
    assert (await client.post(join, **device(fp, ip))).json()["token"] == token
    stats = (await client.get(f"/api/queue/{drop_id}/stats")).json()
    assert stats["totalIssued"] == 1, stats
    # Another network with the same fingerprint is another device: still refused.
    elsewhere = await client.post(join, **device(fp, "10.9.8.6"))
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "queue_fingerprint_limit"


async def test_a_join_idempotency_key_replays_to_its_device_only(
    client: httpx.AsyncClient,
) -> None:
    drop_id = await open_drop(client)
    join, key = f"/api/queue/{drop_id}/join", str(uuid.uuid4())
    first = await client.post(join, **device("fp-a", "10.1.1.1", key))
    assert first.status_code == 200, first.text
    replay = await client.post(join, **device("fp-a", "10.1.1.1", key))
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    foreign = await client.post(join, **device("fp-b", "10.1.1.1", key))
    assert foreign.status_code == 403 and foreign.json()["code"] == "idempotency_key_foreign"


async def test_registrations_behind_a_paused_restate_are_answered_by_their_deadline(
    stack: Stack, api: DropApi
) -> None:
    """Restate stops answering: the registration in flight and those queued behind it on the
    same drop each get a reasoned 503 or 504 within the ingress timeout plus the stall
    lookup (2 s + 5 s here). Before, the stuck batch was retried twice more, and the ones
    behind it waited for all of that and then for their own three tries (42 s here)."""
    url, proc = start_api(stack, "api-short-timeout", {"RESTATE_TIMEOUT_SECONDS": "2"})
    drop_id = uid("stall")
    await api.create(drop_id, registrationEnd=now_ms() + 600_000)
    path = f"/api/drop/{drop_id}/register"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def register() -> tuple[httpx.Response, float]:
                started = time.monotonic()
                r = await client.post(path, json={"userId": uid("u"), "tickets": 1})
                return r, time.monotonic() - started

            with paused(stack.procs["restate"]):
                tries = []
                for _ in range(3):
                    tries.append(asyncio.create_task(register()))
                    # Staggered, so the later ones most likely queue behind the first
                    # batch; the bound holds either way.
                    await asyncio.sleep(0.3)
                answered = await asyncio.gather(*tries)
            for r, took in answered:
                assert r.status_code in (503, 504), r.text
                assert r.json()["code"] in (
                    "durable_timeout",
                    "durable_unavailable",
                    "drop_stalled",
                )
                assert took < 10, f"answered after {took:.1f} s"

            async def registers() -> None:
                r, _ = await register()
                assert r.status_code == 200, r.text

            await eventually_async(
                registers, what="a registration once Restate is back", timeout=30
            )
    finally:
        proc.stop()


async def test_a_read_no_guard_wraps_answers_503_while_nats_is_paused(
    stack: Stack, api: DropApi
) -> None:
    """A drop this api has not indexed yet is looked up in the bucket itself: with NATS
    connected but not answering, that read times out, and the answer says to come back
    (before: 502 `internal`)."""
    with paused(stack.procs["nats"]):
        r = await api.client.get(f"/api/drop/{uid('unindexed')}/status", timeout=20)
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "nats_unavailable" and r.headers["retry-after"] == "2"
