"""The SSE service against real NATS: snapshots, live fan-out, replay, sessions, back-pressure."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from apps.sse.app import create_app
from apps.sse.tail import StreamTail
from devtools import devstack
from drop import events
from drop import serve as servers
from drop.adapters.nats_bus import Bus
from drop.adapters.session_store import UserSessionStore
from drop.contracts import DropState, TicketPricing, UserState
from drop.domain.sessions import Session, new_session_id
from drop.domain.tokens import sign_session, verify_session
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    SecretSettings,
    SseSettings,
)
from tests.support.eventually import eventually_async
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

SECRETS = SecretSettings(purchase_token_secret="test-purchase-secret", drop_env="test")


# --- a minimal SSE client -------------------------------------------------------------


@dataclass
class Sse:
    event: str
    data: Any
    id: str | None


@dataclass
class Stream:
    """An open event stream read in the background into a queue."""

    response: httpx.Response
    events: asyncio.Queue[Sse] = field(default_factory=asyncio.Queue)
    comments: list[str] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    untyped: list[Sse] = field(default_factory=list)  # payloads without `type` == `event:`

    async def pump(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in fields:
                        data = json.loads(fields["data"])
                        sse = Sse(fields.get("event", "message"), data, fields.get("id"))
                        if data.get("type") != sse.event:
                            self.untyped.append(sse)
                        await self.events.put(sse)
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "retry":
                        self.retry.append(int(value))
                    else:
                        fields[name] = value
        except (httpx.HTTPError, asyncio.CancelledError) as exc:
            self.error = exc
        finally:
            self.ended.set()

    async def next(self, timeout: float = 10.0) -> Sse:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def take(self, n: int, timeout: float = 10.0) -> list[Sse]:
        return [await self.next(timeout) for _ in range(n)]

    async def nothing_more(self, within: float = 0.5) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.events.get(), within)


@asynccontextmanager
async def open_stream(
    base: str, path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", path, headers={"accept-encoding": "gzip", **(headers or {})}) as r,
    ):
        assert r.status_code == 200, await r.aread()
        stream = Stream(r)
        task = asyncio.create_task(stream.pump())
        try:
            yield stream
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        assert stream.untyped == [], "every payload carries its event name as `type`"


# --- an in-process server, for tests that need other settings -------------------------


class _QuietServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Any:  # the test runner keeps its own signal handlers
        yield


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    port = devstack.free_port()
    config = uvicorn.Config(
        servers.with_client_address(app),
        host="127.0.0.1",
        port=port,
        log_config=None,
        timeout_graceful_shutdown=2,
        **servers.uvicorn_limits(),
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    async with httpx.AsyncClient() as client:

        async def on_nats() -> None:  # streams open once NATS is connected
            if task.done():
                raise RuntimeError("server failed to start")
            assert server.started
            assert (await client.get(f"http://127.0.0.1:{port}/health")).json()["nats"]

        await eventually_async(on_nats, what="the sse server on NATS", timeout=30, interval=0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def sse_app(stack: Stack, **overrides: Any) -> FastAPI:
    return create_app(
        SseSettings(**overrides),
        ConnectionSettings(nats_url=stack.nats_url),
        SECRETS,
        nats_auth=NatsAuthSettings(
            nats_user=stack.auth.nats_user, nats_password=stack.auth.nats_password
        ),
    )


async def connections(base: str) -> int:
    async with httpx.AsyncClient(base_url=base) as client:
        count: int = (await client.get("/health")).json()["connections"]
        return count


async def connections_become(base: str, n: int, timeout: float) -> None:
    async def counted() -> None:
        assert await connections(base) == n

    await eventually_async(counted, what=f"{n} open streams", timeout=timeout, interval=0.02)


# --- publishing test events straight to JetStream ------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def drop_state(drop_id: str, version: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    state = DropState(
        drop_id=drop_id,
        phase="registration",
        inventory=10,
        initial_inventory=10,
        registration_start=now,
        registration_end=now + 600_000,
        purchase_window=300,
        ticket_pricing=TicketPricing(price_unit=1.0, max_tickets=10, costs=[0, 0, 1, 5]),
        lottery_commitment="c0ffee",
        version=version,
    )
    return state.model_copy(update=changes).wire()


async def publish_state(bus: Bus, drop_id: str, version: int, **changes: Any) -> int:
    data = drop_state(drop_id, version, **changes)
    envelope = events.Event(id=f"{drop_id}:state:{version}", type="drop_state", data=data)
    seq = await bus.publish(events.drop_state_subject(drop_id), envelope.model_dump(), envelope.id)
    kv = await bus.kv(events.DROPS_INDEX_BUCKET)
    await kv.put(drop_id, envelope.model_dump_json().encode())
    return seq


async def publish_user(
    bus: Bus, drop_id: str, user_id: str, version: int, kind: str = "registered", **changes: Any
) -> int:
    state = UserState(drop_id=drop_id, user_id=user_id, version=version)
    data = state.model_copy(update={"status": kind, **changes}).wire()
    msg_id = f"{drop_id}:user:{user_id}:{version}"
    envelope = events.Event(id=msg_id, type=kind, data=data)
    return await bus.publish(
        events.drop_user_subject(drop_id, user_id), envelope.model_dump(), msg_id
    )


async def live_session(bus: Bus, user_id: str) -> str:
    """A session token of `user_id` whose record is live, as the API would issue it."""
    now = int(time.time() * 1000)
    session = Session(new_session_id(), now, now + 3_600_000)
    await UserSessionStore(await bus.kv(events.USER_SESSIONS_BUCKET)).add(user_id, session)
    return sign_session(SECRETS.session_secret, user_id, now, session.session_id)


def session_cookie(token: str) -> dict[str, str]:
    return {"cookie": f"drop_session={token}"}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def verify_session_id(token: str) -> str:
    found = verify_session(SECRETS.session_secret, token, int(time.time() * 1000), 3_600_000)
    assert found is not None
    return found.session_id


@pytest.fixture(scope="module")
async def sse(stack: Stack, bus: Bus) -> AsyncIterator[str]:
    """One in-process sse app with default settings but a short heartbeat."""
    async with serve(sse_app(stack, sse_heartbeat_seconds=0.3)) as base:
        yield base


# --- /events/{dropId}/{userId} ---------------------------------------------------------


async def test_connect_sends_snapshot_then_live_drop_and_user_events(sse: str, bus: Bus) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    async with open_stream(sse, f"/events/{drop_id}/{user_id}") as s:
        headers = s.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in headers
        connected, user = await s.take(2)
        assert connected.event == "connected" and user.event == "user"
        for name in ("dropId", "phase", "participantCount", "totalTickets", "inventory",
                     "initialInventory", "registrationEnd", "purchaseEnd", "serverTime",
                     "lotteryCommitment", "ticketPricing", "geoFence", "geoFenceMode",
                     "geoFenceBonusMultiplier"):  # fmt: skip
            assert name in connected.data, name
        assert connected.data["dropId"] == drop_id and connected.data["phase"] == "registration"
        assert user.data["status"] == "not_registered" and "serverTime" in user.data
        assert connected.id is not None and connected.id == user.id
        assert s.retry == [3000]

        seq_user = await publish_user(bus, drop_id, user_id, 1, tickets=3)
        seq_drop = await publish_state(bus, drop_id, 2, participant_count=1, total_tickets=3)
        await publish_user(bus, drop_id, new_id("other"), 1)  # another user's: not for us
        live_user, live_drop = await s.take(2)
        assert (live_user.event, live_user.id) == ("user", str(seq_user))
        assert live_user.data["status"] == "registered" and live_user.data["tickets"] == 3
        assert live_user.data["reason"] == "registered"
        assert (live_drop.event, live_drop.id) == ("drop", str(seq_drop))
        assert live_drop.data["participantCount"] == 1
        await s.nothing_more(0.3)


async def test_first_user_event_of_a_newcomer_carries_their_mirrored_credits_and_loyalty(
    sse: str, bus: Bus
) -> None:
    drop_id, user_id, stranger = new_id("d"), new_id("u"), new_id("u")
    await publish_state(bus, drop_id, 1)
    await (await bus.kv(events.ROLLOVER_BUCKET)).put(user_id, b'{"balance": 7}')
    loyalty = {"multiplier": 1.2, "tier": "silver", "streak": 2, "dropsParticipated": 3}
    await (await bus.kv(events.LOYALTY_BUCKET)).put(user_id, json.dumps(loyalty).encode())
    async with (
        open_stream(sse, f"/events/{drop_id}/{user_id}") as s,
        open_stream(sse, f"/events/{drop_id}/{stranger}") as t,
    ):
        user = (await s.take(2))[1]
        assert user.data["status"] == "not_registered"
        assert user.data["rolloverBalance"] == 7
        assert (user.data["loyaltyTier"], user.data["loyaltyMultiplier"]) == ("silver", 1.2)
        nobody = (await t.take(2))[1]
        assert (nobody.data["rolloverBalance"], nobody.data["loyaltyTier"]) == (0, "bronze")


async def test_backup_winner_events_say_how_many_backups_are_ahead(sse: str, bus: Bus) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    await publish_user(bus, drop_id, user_id, 1, "backup_winner", backup_position=3)
    async with open_stream(sse, f"/events/{drop_id}/{user_id}") as s:
        user = (await s.take(2))[1]
        assert (user.data["status"], user.data["backupsAhead"]) == ("backup_winner", 2)
        await publish_user(bus, drop_id, user_id, 2, "winner", promoted=True)
        live = await s.next()
        assert (live.data["status"], live.data["backupsAhead"]) == ("winner", None)


async def test_cors_for_allowed_origins_only(stack: Stack, bus: Bus) -> None:
    drop_id, allowed, other = new_id("d"), "http://site.test:3000", "http://evil.test"
    await publish_state(bus, drop_id, 1)
    app = create_app(
        SseSettings(),
        ConnectionSettings(nats_url=stack.nats_url),
        SECRETS,
        ApiSettings(cors_origins=allowed),
        nats_auth=NatsAuthSettings(
            nats_user=stack.auth.nats_user, nats_password=stack.auth.nats_password
        ),
    )
    path = f"/events/{drop_id}/u1"
    preflight = {"access-control-request-method": "GET"}
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        ok = await client.options(path, headers={"origin": allowed, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert ok.headers["access-control-allow-credentials"] == "true"
        refused = await client.options(path, headers={"origin": other, **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        async with open_stream(base, path, {"origin": allowed}) as s:
            assert s.response.headers["access-control-allow-origin"] == allowed
            assert s.response.headers["access-control-allow-credentials"] == "true"
            await s.take(2)  # streamed, not buffered behind the middleware
            seq = await publish_user(bus, drop_id, "u1", 1)
            assert (await s.next()).id == str(seq)
        async with open_stream(base, path, {"origin": other}) as s:
            assert "access-control-allow-origin" not in s.response.headers


async def test_unknown_drop_is_404_and_bad_ids_are_400(sse: str) -> None:
    async with httpx.AsyncClient(base_url=sse) as client:
        missing = await client.get(f"/events/{new_id('nope')}/u1")
        assert missing.status_code == 404
        bad = await client.get("/events/a.b/u1")
        assert bad.status_code == 400
        assert bad.json()["error"] == "Validation failed"


async def test_older_drop_versions_are_ignored(sse: str, bus: Bus) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 5)
    async with open_stream(sse, f"/events/{drop_id}/u1") as s:
        await s.take(2)
        await publish_state(bus, drop_id, 4, participant_count=99)  # a late, older state
        seq = await publish_state(bus, drop_id, 6, participant_count=7)
        drop = await s.next()
        assert (drop.id, drop.data["participantCount"]) == (str(seq), 7)


async def test_purchase_token_only_reaches_the_session_holder(sse: str, bus: Bus) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    await publish_user(bus, drop_id, user_id, 1, "winner", token="tok-1", token_expires_at=1)
    path = f"/events/{drop_id}/{user_id}"
    mine, theirs = await live_session(bus, user_id), await live_session(bus, new_id("other"))
    # A genuine, unexpired token of a session that was revoked (logout, recovery) is no key.
    revoked = await live_session(bus, user_id)
    sessions = UserSessionStore(await bus.kv(events.USER_SESSIONS_BUCKET))
    assert await sessions.revoke(user_id, verify_session_id(revoked))
    async with (
        open_stream(sse, path, session_cookie(mine)) as owner,
        open_stream(sse, path, bearer(mine)) as owner_bearer,
        open_stream(sse, path) as stranger,
        open_stream(sse, path, session_cookie(theirs)) as other,
        open_stream(sse, path, {"cookie": "drop_session=forged.token"}) as forged,
        open_stream(sse, path, bearer(revoked)) as signed_out,
    ):
        watchers = (stranger, other, forged, signed_out)
        for s in (owner, owner_bearer):
            user = (await s.take(2))[1]
            assert user.data["token"] == "tok-1" and user.data["tokenExpiresAt"] == 1
        for s in watchers:
            user = (await s.take(2))[1]
            assert user.data["status"] == "winner"
            assert user.data["token"] is None and user.data["tokenExpiresAt"] is None

        await publish_user(bus, drop_id, user_id, 2, "token_issued", token="tok-2")
        for s in (owner, owner_bearer):
            assert (await s.next()).data["token"] == "tok-2"
        for s in watchers:
            live = await s.next()
            assert live.data["token"] is None
            assert "tok-2" not in json.dumps(live.data)


async def test_reconnect_with_last_event_id_receives_exactly_what_was_missed(
    sse: str, bus: Bus
) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    path = f"/events/{drop_id}/{user_id}"
    async with open_stream(sse, path) as s:
        await s.take(2)
        await publish_user(bus, drop_id, user_id, 1)
        last_seen = (await s.next()).id
    assert last_seen is not None

    missed = []
    for n in range(10):  # 20 events on both subjects, interleaved with other drops' traffic
        missed.append(("drop", await publish_state(bus, drop_id, 2 + n, participant_count=n)))
        await publish_user(bus, drop_id, new_id("other"), 1)
        missed.append(("user", await publish_user(bus, drop_id, user_id, 2 + n, tickets=n)))

    async with open_stream(sse, path, {"last-event-id": last_seen}) as s:
        replayed = await s.take(20)
        assert [(e.event, int(e.id or 0)) for e in replayed] == missed
        assert [e.data["version"] for e in replayed if e.event == "user"] == list(range(2, 12))
        # The hand-over to the live feed neither loses nor repeats anything.
        seq = await publish_user(bus, drop_id, user_id, 12)
        live = await s.next()
        assert (live.event, live.id) == ("user", str(seq))
        await s.nothing_more(0.3)


async def test_a_tail_behind_a_resuming_client_is_waited_for(bus: Bus) -> None:
    """A client resuming on a replica whose tail has not reached its Last-Event-ID yet (its
    NATS node lagged) waits for the tail, so the replay starts exactly after that id; a
    sequence the stream never reached is not waited for."""
    drop_id = new_id("d")
    behind = StreamTail(bus.js, events.DROPS_STREAM, "drop.>", lambda item: None)
    stuck = StreamTail(bus.js, events.DROPS_STREAM, "drop.>", lambda item: None)
    try:
        await behind.prime()
        await stuck.prime()
        claimed = await publish_state(bus, drop_id, 1)  # neither tail has handed it over
        assert behind.last_seq < claimed and stuck.last_seq < claimed
        not_yet = await asyncio.wait_for(behind.caught_up(claimed + 10**9, timeout=60), 5)
        assert not_yet == "unknown"  # not an id of the stream: nothing to wait for
        waiting = asyncio.ensure_future(behind.caught_up(claimed, timeout=60))
        await behind.start()
        assert await asyncio.wait_for(waiting, 30) == "reached"
        assert behind.last_seq >= claimed
        # A tail that never moves gives up after the timeout: the client is ahead of it (the
        # route then goes on after the client's id, with no snapshot).
        assert await stuck.caught_up(claimed, timeout=0.3) == "behind"
        assert stuck.last_seq < claimed
    finally:
        await behind.close()
        await stuck.close()


async def test_reconnect_gets_a_fresh_snapshot_when_the_gap_cannot_be_replayed(
    stack: Stack, bus: Bus
) -> None:
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    async with serve(sse_app(stack, sse_replay_limit=5)) as base:
        path = f"/events/{drop_id}/{user_id}"
        async with open_stream(base, path) as s:
            first = (await s.take(2))[0]
        for n in range(8):  # more than the replay limit
            await publish_user(bus, drop_id, user_id, n + 1, tickets=n)
        for last in (first.id or "", "999999999999", "not-a-number"):
            async with open_stream(base, path, {"last-event-id": last}) as s:
                connected, user = await s.take(2)
                assert (connected.event, user.event) == ("connected", "user")
                assert user.data["tickets"] == 7


# --- back-pressure, heartbeats, the connection cap -----------------------------------


async def test_a_client_that_never_reads_does_not_delay_a_healthy_one(
    stack: Stack, bus: Bus
) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 1)
    async with serve(sse_app(stack, sse_client_buffer=8)) as base:
        port = int(base.rsplit(":", 1)[1])
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", port))
        stuck.sendall(f"GET /events/{drop_id}/stuck HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            async with open_stream(base, f"/events/{drop_id}/healthy") as healthy:
                await healthy.take(2)
                assert await connections(base) == 2
                padding = "x" * 32_000  # enough to fill the kernel buffers on loopback
                delays = []
                for n in range(200):
                    sent = time.perf_counter()
                    await publish_state(bus, drop_id, n + 2, product_description=padding)
                    event = await healthy.next(timeout=2)
                    delays.append(time.perf_counter() - sent)
                    assert event.data["version"] == n + 2
                assert max(delays) < 1.0, max(delays)
                # The stuck client overflowed its buffer and was cut off.
                await connections_become(base, 1, timeout=5)
        finally:
            stuck.close()


async def test_heartbeats_arrive_on_an_idle_stream(sse: str, bus: Bus) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 1)
    async with open_stream(sse, f"/events/{drop_id}/u1") as s:
        await s.take(2)

        async def pinged() -> None:
            assert len(s.comments) >= 3, f"comments so far: {s.comments}"

        await eventually_async(pinged, what="three heartbeats", timeout=3)
        assert all(c.startswith(": ping") for c in s.comments)


async def test_connection_cap_answers_503_with_retry_after(stack: Stack, bus: Bus) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 1)
    async with serve(sse_app(stack, sse_max_connections=2)) as base:
        async with open_stream(base, "/events/drops"), open_stream(base, f"/events/{drop_id}/u"):
            async with httpx.AsyncClient(base_url=base) as client:
                refused = await client.get("/events/drops")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
        await connections_become(base, 0, timeout=5)  # the slots come back as streams end
        async with open_stream(base, "/events/drops") as again:
            assert (await again.next()).event == "drops"


@contextmanager
def nats_paused(stack: Stack) -> Iterator[None]:
    """The test stack's nats-server stopped (SIGSTOP): connected, but answering nothing."""
    popen = stack.procs["nats"].popen
    assert popen is not None
    popen.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        popen.send_signal(signal.SIGCONT)


async def test_a_stream_whose_reads_fail_is_refused_with_503_and_opens_once_nats_answers(
    stack: Stack, bus: Bus
) -> None:
    drop_id, token = new_id("d"), new_id("tok")
    async with serve(sse_app(stack)) as base, httpx.AsyncClient(base_url=base, timeout=20) as c:
        with nats_paused(stack):
            # The queue stream's snapshot is read in its opening; the user stream reads the
            # drop's index entry (not yet on this replica's board) before it is admitted.
            refused = await asyncio.gather(
                c.get(f"/events/queue/{drop_id}/{token}"), c.get(f"/events/{drop_id}/u1")
            )
        for r in refused:
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert r.json()["code"] == "stream_unavailable"
        await connections_become(base, 0, timeout=5)  # no slot kept by a refused stream
        await publish_state(bus, drop_id, 1)
        async with open_stream(base, f"/events/queue/{drop_id}/{token}") as q:
            assert (await q.next(timeout=10)).event == "queue_position"
        async with open_stream(base, f"/events/{drop_id}/u1") as u:
            assert (await u.next(timeout=10)).event == "connected"


# --- /events/drops and /events/queue -------------------------------------------------


async def test_drops_stream_sends_the_active_list_coalesced(sse: str, bus: Bus) -> None:
    soon, later = new_id("soon"), new_id("later")
    now = int(time.time() * 1000)
    await publish_state(bus, later, 1, registration_end=now + 900_000)
    async with open_stream(sse, "/events/drops") as s:
        first = await s.next()
        assert first.event == "drops" and "serverTime" in first.data
        assert later in [d["dropId"] for d in first.data["drops"]]
        started = time.monotonic()
        for n in range(30):
            await publish_state(bus, soon, n + 1, registration_end=now + 1000, participant_count=n)
        lists = []
        while True:
            event = await s.next(timeout=3)
            lists.append((time.monotonic(), event))
            ours = [d for d in event.data["drops"] if d["dropId"] == soon]
            if ours and ours[0]["participantCount"] == 29:
                break
        assert len(lists) <= max(2, int((time.monotonic() - started) / 0.2) + 2)
        # Measured on the server's clock (each list carries the time it was built), so a
        # loaded test client reading two lists late and together cannot shrink a gap.
        gaps = [
            b[1].data["serverTime"] - a[1].data["serverTime"] for a, b in itertools.pairwise(lists)
        ]
        assert all(gap >= 150 for gap in gaps), gaps
        ids = [d["dropId"] for d in lists[-1][1].data["drops"]]
        assert ids.index(soon) < ids.index(later)  # soonest deadline first
        await publish_state(bus, soon, 31, phase="completed")
        while soon in [d["dropId"] for d in (await s.next(timeout=3)).data["drops"]]:
            pass


async def test_queue_stream_sends_current_state_then_live_events(sse: str, bus: Bus) -> None:
    drop_id, token, fresh = new_id("d"), new_id("t"), new_id("t")
    subject = events.queue_subject(drop_id, token)
    position = {"position": 4, "estimatedWaitSeconds": 2, "aheadOfYou": 3, "totalInQueue": 9}
    envelope = events.Event(id=new_id("q"), type="queue_position", data=position)
    await bus.publish(subject, envelope.model_dump(), envelope.id)
    kv = await bus.kv(events.QUEUE_TOKENS_BUCKET)
    await kv.put(f"{drop_id}.{fresh}", json.dumps({"status": "waiting", "position": 2}).encode())
    async with (
        open_stream(sse, f"/events/queue/{drop_id}/{token}") as s,
        open_stream(sse, f"/events/queue/{drop_id}/{fresh}") as f,
    ):
        snap = await s.next()
        assert (snap.event, snap.data) == ("queue_position", {**position, "type": snap.event})
        from_kv = await f.next()
        assert from_kv.event == "queue_position" and from_kv.data["position"] == 2
        ready = events.Event(
            id=new_id("q"), type="queue_ready", data={"token": token, "expiresAt": 5}
        )
        seq = await bus.publish(subject, ready.model_dump(), ready.id)
        live = await s.next()
        assert (live.event, live.id) == ("queue_ready", str(seq))
        assert live.data == {**ready.data, "type": "queue_ready"}
        await f.nothing_more(0.2)
    async with open_stream(
        sse, f"/events/queue/{drop_id}/{token}", {"last-event-id": snap.id or ""}
    ) as s:
        again = await s.next()
        assert (again.event, again.id) == ("queue_ready", str(seq))


async def test_a_join_admitted_at_once_opens_its_stream_ready(sse: str, stack: Stack) -> None:
    """The waiting room admitted the join itself (nobody waited): the token's stream opens
    with the `queue_ready` the join answer matches, so a page that follows it after a
    ready answer is not left waiting; the next person, over the ready cap, gets a place."""
    drop_id = new_id("d")
    config = {"rate": 100, "maxConcurrent": 1, "readyWindowS": 60, "maxAgeS": 600}
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as ingress:
        answers = []
        for _ in range(2):
            body = {"fingerprintHash": uuid.uuid4().hex, "ipHash": uuid.uuid4().hex}
            r = await ingress.post(
                f"/QueueAdmission/{drop_id}/joinQueue", json={**body, "config": config}
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
    ready, waiting = answers
    assert (ready["status"], waiting["status"]) == ("ready", "waiting")
    async with (
        open_stream(sse, f"/events/queue/{drop_id}/{ready['token']}") as s,
        open_stream(sse, f"/events/queue/{drop_id}/{waiting['token']}") as w,
    ):
        opened = await s.next()
        assert (opened.event, opened.data) == (
            "queue_ready",
            {"token": ready["token"], "expiresAt": ready["expiresAt"], "type": "queue_ready"},
        )
        behind = await w.next()
        assert (behind.event, behind.data["position"]) == ("queue_position", 1)


# --- the real process: NATS restarts, shutdown ---------------------------------------


async def test_stream_survives_a_nats_restart_without_losing_events(stack: Stack, bus: Bus) -> None:
    base = stack.start_app("sse")
    drop_id, user_id = new_id("d"), new_id("u")
    await publish_state(bus, drop_id, 1)
    async with open_stream(base, f"/events/{drop_id}/{user_id}") as s:
        await s.take(2)
        seqs = [await publish_user(bus, drop_id, user_id, 1)]
        assert (await s.next()).id == str(seqs[0])
        await asyncio.to_thread(stack.restart, "nats")
        for n in range(5):  # published as soon as NATS is back, before sse has resumed
            seqs.append(await publish_user(bus, drop_id, user_id, n + 2))
        received = await s.take(5, timeout=15)
        assert [int(e.id or 0) for e in received] == seqs[1:]
        await s.nothing_more(0.3)
        assert s.error is None and not s.ended.is_set()


async def test_shutdown_ends_streams_cleanly(stack: Stack, bus: Bus) -> None:
    drop_id = new_id("d")
    await publish_state(bus, drop_id, 1)
    port = devstack.free_port()
    proc = devstack.app_proc("sse", port, stack.app_env(), stack.log("sse-shutdown")).start()
    base = f"http://127.0.0.1:{port}"
    try:
        # Ready, not just alive: streams are refused (503) until the NATS feeds run.
        await asyncio.to_thread(devstack.wait_http, f"{base}/ready", "sse")
        async with open_stream(base, f"/events/{drop_id}/u1") as s:
            await s.take(2)
            assert proc.popen is not None
            proc.popen.send_signal(signal.SIGTERM)
            await asyncio.wait_for(s.ended.wait(), 8)
            assert s.error is None  # the chunked body was terminated, not torn
        code = await asyncio.to_thread(proc.popen.wait, 10)
        # uvicorn re-raises the signal it handled once shutdown has completed.
        assert code in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in stack.log("sse-shutdown").read_text()
    finally:
        proc.stop()
