"""Guards on registration and the waiting room's routes, through an API started with the
guards on (the session API runs with them off for the lifecycle tests).

Requests name their client IP with X-Forwarded-For (the API trusts its proxy), so each test
plays as many networks as it needs without tripping over another test's rate limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devtools import devstack
from drop import events
from drop.adapters.nats_bus import Bus
from drop.adapters.rate_limit import RateLimiter
from drop.domain import pow as pow_rules
from drop.domain.queue_rules import make_queue_token
from drop.settings import SecretSettings
from tests.support.api_client import ADMIN, DropApi, now_ms, uid
from tests.support.eventually import eventually_async
from tests.support.stack import Stack, start_api

pytestmark = pytest.mark.integration

GUARDS_ON = {
    "QUEUE_ENABLED": "true",
    "SKIP_RATE_LIMIT": "false",
    "BOT_CHECK_ENABLED": "true",
    "POW_DIFFICULTY": "1",
    "RATE_LIMIT_REGISTER": "5",
    "RATE_LIMIT_DEFAULT": "10",
    "QUEUE_ADMISSION_RATE": "50",
    "QUEUE_MAX_CONCURRENT": "3",
    "QUEUE_READY_WINDOW": "30",
    "MIN_TRUST_SCORE": "50",
}
HUMAN_SIGNALS = {
    "mouseMovements": 40,
    "scrollEvents": 4,
    "keyPresses": 6,
    "focusBlurEvents": 1,
    "visibilityChanges": 1,
    "timeOnPage": 9000,
    "interactionPatterns": json.dumps({"intervals": [140, 820, 310, 1900, 95]}),
}
NO_BEHAVIOUR = {**{key: 0 for key in HUMAN_SIGNALS}, "interactionPatterns": ""}
TOKEN_INVALID = "Invalid or expired queue token"


@pytest.fixture(scope="module")
def guarded_url(stack: Stack) -> Iterator[str]:
    url, proc = start_api(stack, "api-guarded", GUARDS_ON)
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
async def client(guarded_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded_url, timeout=60) as c:
        yield c


def new_ip() -> str:
    return ".".join(["10", *(str(random.randint(0, 255)) for _ in range(3))])


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def create_drop(client: httpx.AsyncClient) -> str:
    drop_id = uid("guard")
    start = now_ms()
    body = {
        "dropId": drop_id,
        "inventory": 5,
        "registrationStart": start,
        "registrationEnd": start + 120_000,
        "purchaseWindow": 60,
    }
    r = await client.post("/api/drops", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return drop_id


async def join(client: httpx.AsyncClient, drop_id: str, ip: str | None = None) -> dict[str, Any]:
    r = await client.post(
        f"/api/queue/{drop_id}/join",
        json={"fingerprint": uid("fp")},
        headers=from_ip(ip or new_ip()),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def status(client: httpx.AsyncClient, drop_id: str, token: str) -> dict[str, Any]:
    r = await client.get(f"/api/queue/{drop_id}/status/{token}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def admitted(client: httpx.AsyncClient, drop_id: str, token: str) -> str:
    """`token` once the waiting room has admitted it."""

    async def ready() -> str:
        found = (await status(client, drop_id, token))["status"]
        assert found == "ready", f"token {token} is {found}"
        return token

    return await eventually_async(ready, what="the token's admission")


async def ready_token(client: httpx.AsyncClient, drop_id: str) -> str:
    return await admitted(client, drop_id, str((await join(client, drop_id))["token"]))


async def solved(client: httpx.AsyncClient, ip: str | None = None) -> tuple[str, str]:
    r = await client.get("/api/pow/challenge", headers=from_ip(ip or new_ip()))
    assert r.status_code == 200, r.text
    challenge, difficulty = r.json()["challenge"], r.json()["difficulty"]
    return challenge, pow_rules.solve(challenge, difficulty)


def bot(pow_: tuple[str, str], confidence: float = 90, timing_ms: int = 4000) -> dict[str, Any]:
    return {
        "fingerprint": uid("fp"),
        "fingerprintConfidence": confidence,
        "timingMs": timing_ms,
        "powChallenge": pow_[0],
        "powSolution": pow_[1],
    }


async def register(
    client: httpx.AsyncClient,
    drop_id: str,
    *,
    token: str | None,
    pow_: tuple[str, str],
    user: str | None = None,
    ip: str | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "userId": user or uid("u"),
        "tickets": 1,
        "botValidation": extra.pop("botValidation", None) or bot(pow_),
        **extra,
    }
    if token is not None:
        body["queueToken"] = token
    return await client.post(
        f"/api/drop/{drop_id}/register", json=body, headers=from_ip(ip or new_ip())
    )


def refused(r: httpx.Response, status: int, code: str, error: str | None = None) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    if error is not None:
        assert r.json()["error"] == error


async def test_challenge_route(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/pow/challenge", headers=from_ip(new_ip()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["difficulty"] == 1 and abs(body["timestamp"] - now_ms()) < 5000
    assert pow_rules.parse_challenge(body["challenge"]) == body["timestamp"]


async def test_valid_registration_passes_and_spends_the_token(client: httpx.AsyncClient) -> None:
    drop_id = await create_drop(client)
    token = await ready_token(client, drop_id)
    r = await register(client, drop_id, token=token, pow_=await solved(client))
    assert r.status_code == 200, r.text
    assert (await status(client, drop_id, token))["status"] == "used"
    r = await register(client, drop_id, token=token, pow_=await solved(client))
    refused(r, 403, "queue_token_used", TOKEN_INVALID)


async def test_a_join_into_an_empty_room_registers_without_a_status_poll(
    client: httpx.AsyncClient,
) -> None:
    """The join answers ready, and the registration guard (which reads the mirror) takes
    the token at once; the status route then shows it used, admitted when the join said."""
    drop_id = await create_drop(client)
    joined = await join(client, drop_id)
    assert (joined["status"], joined["position"]) == ("ready", 0)
    r = await register(client, drop_id, token=joined["token"], pow_=await solved(client))
    assert r.status_code == 200, r.text
    seen = await status(client, drop_id, joined["token"])
    assert (seen["status"], seen["readyAt"]) == ("used", joined["expiresAt"] - 30_000)


async def test_queue_refusals_do_not_spend_the_challenge(client: httpx.AsyncClient) -> None:
    drop_id, other_drop = await create_drop(client), await create_drop(client)
    pow_ = await solved(client)
    refused(
        await register(client, drop_id, token=None, pow_=pow_),
        400,
        "queue_token_required",
        "Queue token required",
    )
    foreign = await ready_token(client, other_drop)
    refused(
        await register(client, drop_id, token=foreign, pow_=pow_),
        403,
        "queue_token_wrong_drop",
        TOKEN_INVALID,
    )
    forged = make_queue_token(drop_id, "ab" * 16)
    refused(
        await register(client, drop_id, token=forged, pow_=pow_),
        403,
        "queue_token_invalid",
        TOKEN_INVALID,
    )
    admitted = [await ready_token(client, drop_id) for _ in range(3)]  # the room holds 3
    waiting = (await join(client, drop_id))["token"]
    assert (await status(client, drop_id, waiting))["status"] == "waiting"
    refused(
        await register(client, drop_id, token=waiting, pow_=pow_),
        429,
        "queue_token_not_ready",
        "Queue token not ready - please wait for your turn",
    )
    # None of those refusals spent the challenge: it still lets a good request in.
    r = await register(client, drop_id, token=admitted[0], pow_=pow_)
    assert r.status_code == 200, r.text


async def test_proof_of_work_refusals(client: httpx.AsyncClient) -> None:
    drop_id = await create_drop(client)
    token = await ready_token(client, drop_id)
    challenge, nonce = await solved(client)
    wrong = next(
        str(n) for n in range(10_000) if not pow_rules.verify_solution(challenge, str(n), 1)
    )
    refused(
        await register(client, drop_id, token=token, pow_=(challenge, wrong)), 403, "pow_invalid"
    )
    stale = pow_rules.make_challenge(now_ms() - 6 * 60_000, "cd" * 16)
    stale_pow = (stale, pow_rules.solve(stale, 1))
    refused(await register(client, drop_id, token=token, pow_=stale_pow), 403, "pow_expired")
    never_issued = pow_rules.make_challenge(now_ms(), "ef" * 16)
    forged = (never_issued, pow_rules.solve(never_issued, 1))
    refused(await register(client, drop_id, token=token, pow_=forged), 403, "pow_invalid")
    refused(await register(client, drop_id, token=token, pow_=("garbage", "1")), 403, "pow_invalid")
    r = await register(client, drop_id, token=token, pow_=(challenge, nonce))
    assert r.status_code == 200, r.text
    second = await ready_token(client, drop_id)
    replay = await register(client, drop_id, token=second, pow_=(challenge, nonce))
    refused(replay, 403, "pow_replayed")


async def test_a_challenge_replayed_concurrently_is_spent_once(client: httpx.AsyncClient) -> None:
    drop_id = await create_drop(client)
    tokens = [await ready_token(client, drop_id) for _ in range(3)]
    pow_ = await solved(client)
    answers = await asyncio.gather(*(register(client, drop_id, token=t, pow_=pow_) for t in tokens))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 403, 403], [r.text for r in answers]
    assert all(r.json()["code"] == "pow_replayed" for r in answers if r.status_code == 403)


def signing_key(stack: Stack) -> bytes:
    """The key the stack's api processes sign challenges with (from their secrets)."""
    env = stack.env_for("api")
    secrets = SecretSettings(
        drop_env="test",
        admin_secret=env["ADMIN_SECRET"],
        purchase_token_secret=env["PURCHASE_TOKEN_SECRET"],
        ip_hash_salt=env["IP_HASH_SALT"],
    )
    return pow_rules.challenge_key(secrets.session_secret)


async def test_signed_challenges_expire_and_keep_their_difficulty(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    """Signed by the replicas' key but too old: expired. Signed for difficulty 2 while the
    api asks 1: a solution good for 1 only is refused, one good for 2 is accepted."""
    key = signing_key(stack)
    drop_id = await create_drop(client)
    token = await ready_token(client, drop_id)
    stale = pow_rules.sign_challenge(key, now_ms() - 6 * 60_000, 1)
    stale_pow = (stale, pow_rules.solve(stale, 1))
    refused(await register(client, drop_id, token=token, pow_=stale_pow), 403, "pow_expired")
    hard = pow_rules.sign_challenge(key, now_ms(), 2)
    easy_only = next(
        str(n)
        for n in range(100_000)
        if pow_rules.verify_solution(hard, str(n), 1)
        and not pow_rules.verify_solution(hard, str(n), 2)
    )
    downgraded = await register(client, drop_id, token=token, pow_=(hard, easy_only))
    refused(downgraded, 403, "pow_invalid")
    r = await register(client, drop_id, token=token, pow_=(hard, pow_rules.solve(hard, 2)))
    assert r.status_code == 200, r.text


async def test_a_challenge_is_spent_once_across_replicas(
    client: httpx.AsyncClient, nat_url: str
) -> None:
    """Issued by one api, spent at the other; replayed at both at once, it lets one in."""
    drop_id = await create_drop(client)
    tokens = [await ready_token(client, drop_id) for _ in range(3)]
    async with httpx.AsyncClient(base_url=nat_url, timeout=60) as other:
        r = await register(client, drop_id, token=tokens[0], pow_=await solved(other))
        assert r.status_code == 200, r.text
        pow_ = await solved(client)
        answers = await asyncio.gather(
            register(client, drop_id, token=tokens[1], pow_=pow_),
            register(other, drop_id, token=tokens[2], pow_=pow_),
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 403], [a.text for a in answers]
    refused(next(a for a in answers if a.status_code == 403), 403, "pow_replayed")


async def test_a_previous_builds_stored_challenge_is_spent_once(
    client: httpx.AsyncClient, bus: Bus
) -> None:
    """During a deploy, a challenge the previous build issued (random hex, stored at issue)
    is still accepted for its life, once."""
    drop_id = await create_drop(client)
    tokens = [await ready_token(client, drop_id) for _ in range(2)]
    at = now_ms()
    challenge = pow_rules.make_challenge(at, secrets.token_hex(16))
    record = {"challenge": challenge, "difficulty": 1, "issuedAt": at}
    kv = await bus.kv(events.POW_BUCKET)
    await kv.create(hashlib.sha256(challenge.encode()).hexdigest(), json.dumps(record).encode())
    pow_ = (challenge, pow_rules.solve(challenge, 1))
    r = await register(client, drop_id, token=tokens[0], pow_=pow_)
    assert r.status_code == 200, r.text
    refused(await register(client, drop_id, token=tokens[1], pow_=pow_), 403, "pow_replayed")


async def test_a_ready_answer_carries_a_challenge_registration_accepts(
    client: httpx.AsyncClient,
) -> None:
    """A join let in at once hands over a challenge as `GET /api/pow/challenge` would; it is
    accepted once. A waiting answer carries none; a ready token's heartbeat (limited per
    address, as join is) carries a fresh one, its status poll (not limited) none."""
    drop_id = await create_drop(client)
    joined = await join(client, drop_id)
    assert joined["status"] == "ready"
    offered = joined["powChallenge"]
    assert set(offered) == {"challenge", "difficulty", "timestamp"}
    assert offered["difficulty"] == 1 and abs(offered["timestamp"] - now_ms()) < 5000
    assert pow_rules.parse_challenge(offered["challenge"]) == offered["timestamp"]
    assert "powChallenge" not in await status(client, drop_id, joined["token"])
    beat = await client.post(
        f"/api/queue/{drop_id}/heartbeat",
        json={"token": joined["token"], "behaviorSignals": HUMAN_SIGNALS},
        headers=from_ip(new_ip()),
    )
    assert beat.status_code == 200, beat.text
    beaten = beat.json()["powChallenge"]
    assert beaten["challenge"] != offered["challenge"]
    assert pow_rules.parse_challenge(beaten["challenge"]) == beaten["timestamp"]
    pow_ = (offered["challenge"], pow_rules.solve(offered["challenge"], offered["difficulty"]))
    r = await register(client, drop_id, token=joined["token"], pow_=pow_)
    assert r.status_code == 200, r.text
    again = await register(client, drop_id, token=await ready_token(client, drop_id), pow_=pow_)
    refused(again, 403, "pow_replayed")
    for _ in range(2):
        await join(client, drop_id)  # the room holds three ready places: the next one waits
    waiting = await join(client, drop_id)
    assert waiting["status"] == "waiting" and "powChallenge" not in waiting


async def test_low_trust_is_refused_and_heartbeat_signals_count(client: httpx.AsyncClient) -> None:
    drop_id = await create_drop(client)
    token = await ready_token(client, drop_id)
    fast_and_unsure = {"botValidation": bot(await solved(client), confidence=10, timing_ms=200)}
    r = await register(client, drop_id, token=token, pow_=("", ""), **fast_and_unsure)
    refused(r, 403, "bot_suspected")
    no_behaviour = NO_BEHAVIOUR
    r = await register(
        client, drop_id, token=token, pow_=await solved(client), behaviorSignals=no_behaviour
    )
    refused(r, 403, "bot_suspected")
    # Signals from heartbeats are kept and used when the registration carries none.
    beat = await client.post(
        f"/api/queue/{drop_id}/heartbeat",
        json={"token": token, "behaviorSignals": no_behaviour},
        headers=from_ip(new_ip()),
    )
    assert beat.status_code == 200 and beat.json()["status"] == "ready", beat.text
    refused(
        await register(client, drop_id, token=token, pow_=await solved(client)),
        403,
        "bot_suspected",
    )
    beat = await client.post(
        f"/api/queue/{drop_id}/heartbeat",
        json={"token": token, "behaviorSignals": HUMAN_SIGNALS},
        headers=from_ip(new_ip()),
    )
    assert beat.status_code == 200, beat.text
    r = await register(client, drop_id, token=token, pow_=await solved(client))
    assert r.status_code == 200, r.text


async def test_30_concurrent_registrations_from_one_ip_5_pass_the_limit(
    client: httpx.AsyncClient,
) -> None:
    drop_id = await create_drop(client)
    ip = new_ip()
    answers = await asyncio.gather(
        *(register(client, drop_id, token=None, pow_=("x", "1"), ip=ip) for _ in range(30))
    )
    limited = [r for r in answers if r.status_code == 429]
    assert len(limited) == 25 and len(answers) - len(limited) == 5
    assert all(r.json()["code"] == "rate_limited" for r in limited)
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in limited)
    assert all(r.json()["code"] == "queue_token_required" for r in answers if r.status_code != 429)


async def test_admitted_people_behind_one_ip_are_not_refused_by_its_registration_limit(
    client: httpx.AsyncClient,
) -> None:
    """A ready token's window (30 s) is shorter than the limit's (60 s): seven people behind
    one address, each admitted in turn, all register although the limit is 5 a minute;
    registrations without a ready token still count and meet it."""
    drop_id, ip = await create_drop(client), new_ip()
    for _ in range(7):
        token = await admitted(client, drop_id, str((await join(client, drop_id, ip))["token"]))
        r = await register(client, drop_id, token=token, pow_=await solved(client, ip), ip=ip)
        assert r.status_code == 200, r.text
    tokenless = [
        await register(client, drop_id, token=None, pow_=("x", "1"), ip=ip) for _ in range(6)
    ]
    assert [r.json()["code"] for r in tokenless] == ["queue_token_required"] * 5 + ["rate_limited"]


async def test_rate_counter_loses_no_update_under_concurrency(stack: Stack) -> None:
    bus = await stack.connect_bus("test-rate")
    try:
        limiter = RateLimiter(await bus.kv(events.RATE_LIMIT_BUCKET))
        subject = uid("ip")
        hits = await asyncio.gather(*(limiter.hit("test", subject, 5, 60) for _ in range(30)))
        assert sum(h.allowed for h in hits) == 5
        assert sorted(h.count for h in hits if h.allowed) == [1, 2, 3, 4, 5]
        assert all(h.retry_after_s >= 1 for h in hits if not h.allowed)
    finally:
        await bus.close()


async def test_join_routes_limits_and_shapes(client: httpx.AsyncClient, stack: Stack) -> None:
    drop_id = await create_drop(client)
    ip, fp = new_ip(), uid("fp")
    first = await client.post(
        f"/api/queue/{drop_id}/join", json={"fingerprint": fp}, headers=from_ip(ip)
    )
    assert first.status_code == 200, first.text
    body = first.json()
    # Nobody waits in a new room: the first join is admitted at once.
    assert body["success"] and body["queueEnabled"] and body["status"] == "ready"
    assert body["position"] == 0 and body["expiresAt"] > now_ms()
    assert set(body) >= {"token", "position", "estimatedWaitSeconds", "status"}
    again = await client.post(
        f"/api/queue/{drop_id}/join", json={"fingerprint": fp}, headers=from_ip(new_ip())
    )
    refused(again, 409, "queue_fingerprint_limit")
    for _ in range(2):
        await join(client, drop_id, ip)
    fourth = await client.post(
        f"/api/queue/{drop_id}/join", json={"fingerprint": uid("fp")}, headers=from_ip(ip)
    )
    refused(fourth, 409, "queue_ip_limit")
    seen = await status(client, drop_id, body["token"])
    assert set(seen) == {
        "found",
        "status",
        "position",
        "aheadOfYou",
        "totalInQueue",
        "estimatedWaitSeconds",
        "expiresAt",
        "readyAt",
        "queueEnabled",
    }
    assert (await status(client, drop_id, "nope"))["found"] is False
    stats = (await client.get(f"/api/queue/{drop_id}/stats")).json()
    assert stats["totalIssued"] == 3 and stats["queueEnabled"] is True
    assert {"waitingCount", "readyCount", "totalAdmitted", "admissionLoopActive"} <= set(stats)
    unknown = await client.post(
        f"/api/queue/{uid('nodrop')}/join",
        json={"fingerprint": uid("fp")},
        headers=from_ip(new_ip()),
    )
    assert unknown.status_code == 404, unknown.text
    # The raw IP is stored nowhere: not in the durable object's state, not in the bucket.
    async with httpx.AsyncClient(base_url=stack.admin_url, timeout=30) as admin:
        sql = (
            "SELECT key, value_utf8 FROM state WHERE service_name = 'QueueAdmission' "
            f"AND service_key = '{drop_id}'"
        )
        rows = await admin.post(
            "/query", json={"query": sql}, headers={"Accept": "application/json"}
        )
    assert rows.status_code == 200, rows.text
    keys = {row["key"] for row in rows.json()["rows"]}
    assert any(k.startswith("ip:") for k in keys) and any(k.startswith("fp:") for k in keys)
    assert ip not in rows.text and fp not in rows.text


async def test_join_heartbeat_and_challenge_are_rate_limited(client: httpx.AsyncClient) -> None:
    ip = new_ip()
    codes = [
        (await client.get("/api/pow/challenge", headers=from_ip(ip))).status_code for _ in range(11)
    ]
    assert codes == [200] * 10 + [429]


async def test_guards_fail_closed_without_nats(stack: Stack, tmp_path: Any) -> None:
    nats_port, monitor = devstack.free_port(), devstack.free_port()
    nats = devstack.nats_proc(
        nats_port, monitor, tmp_path / "nats", tmp_path / "nats.log", stack.auth
    ).start()
    devstack.wait_nats(monitor)
    url, api = start_api(
        stack, "api-own-nats", {**GUARDS_ON, "NATS_URL": f"nats://127.0.0.1:{nats_port}"}
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            drop_id = await create_drop(c)

            async def challenge_served() -> None:
                r = await c.get("/api/pow/challenge", headers=from_ip(new_ip()))
                assert r.status_code == 200, r.text

            await eventually_async(challenge_served, what="the API reaching its NATS", interval=0.1)
            nats.kill()
            calls = [
                c.get("/api/pow/challenge", headers=from_ip(new_ip())),
                c.post(
                    f"/api/queue/{drop_id}/join",
                    json={"fingerprint": "f"},
                    headers=from_ip(new_ip()),
                ),
                c.post(
                    f"/api/queue/{drop_id}/heartbeat",
                    json={"token": "t", "behaviorSignals": HUMAN_SIGNALS},
                    headers=from_ip(new_ip()),
                ),
                c.post(
                    f"/api/drop/{drop_id}/register",
                    json={"userId": uid("u"), "tickets": 1},
                    headers=from_ip(new_ip()),
                ),
            ]
            for answer in await asyncio.gather(*calls):
                assert answer.status_code == 503, answer.text
    finally:
        api.stop()
        nats.stop()


async def test_relaxed_switches_are_announced_and_honoured(api: DropApi, stack: Stack) -> None:
    joined = await api.client.post(f"/api/queue/{uid('any')}/join", json={"fingerprint": "f"})
    assert joined.status_code == 200, joined.text
    assert (joined.json()["queueEnabled"], joined.json()["token"]) == (False, None)
    logged = stack.log("api").read_text()
    for switch in ("SKIP_RATE_LIMIT", "QUEUE_ENABLED=false", "BOT_CHECK_ENABLED=false"):
        assert switch in logged


@pytest.fixture(scope="module")
def nat_url(stack: Stack) -> Iterator[str]:
    """Guards on, with limits a campus network's worth of people can live with."""
    env = {**GUARDS_ON, "RATE_LIMIT_REGISTER": "50", "RATE_LIMIT_DEFAULT": "100"}
    url, proc = start_api(stack, "api-nat", env)
    try:
        yield url
    finally:
        proc.stop()


async def test_ten_people_behind_one_ip_register_in_turn(nat_url: str) -> None:
    """A network holds three live places at once, and each registration gives one back."""
    ip = new_ip()
    async with httpx.AsyncClient(base_url=nat_url, timeout=60) as c:
        drop_id = await create_drop(c)
        first = [await join(c, drop_id, ip) for _ in range(3)]
        fourth = await c.post(
            f"/api/queue/{drop_id}/join", json={"fingerprint": uid("fp")}, headers=from_ip(ip)
        )
        refused(fourth, 409, "queue_ip_limit")
        tokens = [str(j["token"]) for j in first]
        registered = 0
        for person in range(10):
            token = tokens[person] if person < 3 else str((await join(c, drop_id, ip))["token"])
            await admitted(c, drop_id, token)
            r = await register(c, drop_id, token=token, pow_=await solved(c, ip), ip=ip)
            assert r.status_code == 200, r.text
            registered += 1
        assert registered == 10
        r = await c.get(f"/api/drop/{drop_id}/status")
        assert r.json()["participantCount"] == 10


async def test_session_recovery_is_rate_limited(client: httpx.AsyncClient) -> None:
    """Recovery codes cannot be guessed at speed: wrong codes count against the IP."""
    ip, body = new_ip(), {"userId": uid("u"), "recoveryCode": "x" * 32}
    answers = [
        (await client.post("/api/session/recover", json=body, headers=from_ip(ip))).status_code
        for _ in range(7)
    ]
    assert answers == [403] * 5 + [429] * 2
    other = await client.post("/api/session/recover", json=body, headers=from_ip(new_ip()))
    assert other.status_code == 403
