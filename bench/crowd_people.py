"""The simulated people of bench/crowd.py: what one person does, and the crowd's tally.

`registration_body` is the one place that knows a registration's wire names.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lean_http import ConnectionLost, Pool, Reply
from drop.domain import pow as pow_rules


def registration_body(
    user_id: str,
    tickets: int,
    fingerprint: str,
    challenge: str,
    nonce: str,
    queue_token: str,
    rng: random.Random,
) -> dict[str, Any]:
    """The one place that knows a registration's wire names and plausible human signals
    (drop/contracts RegisterIn; scored by drop/domain/trust.py)."""
    return {
        "userId": user_id,
        "tickets": tickets,
        "queueToken": queue_token,
        "botValidation": {
            "fingerprint": fingerprint,
            "fingerprintConfidence": rng.randint(80, 99),  # 0-100 (docs/contract.md, Registration)
            "timingMs": rng.randint(3_000, 9_000),
            "powSolution": nonce,
            "powChallenge": challenge,
        },
        "behaviorSignals": {
            "mouseMovements": rng.randint(20, 200),
            "scrollEvents": rng.randint(2, 15),
            "keyPresses": rng.randint(0, 12),
            "focusBlurEvents": rng.randint(0, 3),
            "visibilityChanges": rng.randint(0, 2),
            "timeOnPage": rng.randint(4_000, 30_000),
            "interactionPatterns": json.dumps([rng.randint(80, 900) for _ in range(8)]),
        },
    }


def ip_of(first: int, i: int) -> str:
    return f"{first}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Tally:
    joins: list[float] = field(default_factory=list)
    registers: list[float] = field(default_factory=list)
    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    registered: dict[str, float] = field(default_factory=dict)  # userId -> when

    def fail(self, step: str, reply: Reply | None, kind: str = "") -> None:
        self.errors[f"{step} {reply.status} {reply.code}" if reply else f"{step} {kind}"] += 1


class Refused(Exception):
    pass


async def call(
    tally: Tally, step: str, pool: Pool, method: str, path: str, body: Any, ip: str
) -> Reply:
    try:
        reply = await pool.request(method, path, body, {"X-Forwarded-For": ip})
    except ConnectionLost:
        tally.fail(step, None, "connection lost")
        raise Refused from None
    except OSError as exc:
        tally.fail(step, None, f"connect: {exc.strerror or exc}")
        raise Refused from None
    except TimeoutError:
        tally.fail(step, None, "timeout")
        raise Refused from None
    if reply.status != 200:
        tally.fail(step, reply)
        raise Refused
    return reply


async def admitted(
    pool: Pool, drop_id: str, ip: str, fingerprint: str, tally: Tally, rng: random.Random
) -> tuple[str, str, str]:
    """Join, wait for admission, solve a fresh challenge: (token, challenge, nonce). As the
    site does, the challenge is the one a join let in at once carried, else one from
    `GET /api/pow/challenge`."""
    joined = await call(
        tally, "join", pool, "POST", f"/api/queue/{drop_id}/join", {"fingerprint": fingerprint}, ip
    )
    tally.joins.append(joined.seconds)
    answer = joined.json()
    token, status = str(answer["token"]), answer["status"]
    while status != "ready":
        await asyncio.sleep(rng.uniform(0.3, 0.5))
        polled = await call(
            tally, "status", pool, "GET", f"/api/queue/{drop_id}/status/{token}", None, ip
        )
        tally.polls += 1
        status = polled.json()["status"]
        if status not in ("waiting", "ready"):
            tally.fail("status", None, f"became {status}")
            raise Refused
    issued = answer.get("powChallenge")
    if issued is None:
        issued = (
            await call(tally, "challenge", pool, "GET", "/api/pow/challenge", None, ip)
        ).json()
    nonce = pow_rules.solve(issued["challenge"], int(issued["difficulty"]))
    return token, issued["challenge"], nonce


async def person(pool: Pool, drop_id: str, i: int, tally: Tally, rng: random.Random) -> None:
    ip, user_id, fingerprint = ip_of(10, i), f"crowd-{i}", f"device-crowd-{i}"
    try:
        token, challenge, nonce = await admitted(pool, drop_id, ip, fingerprint, tally, rng)
        body = registration_body(
            user_id, rng.randint(1, 10), fingerprint, challenge, nonce, token, rng
        )
        done = await call(
            tally, "register", pool, "POST", f"/api/drop/{drop_id}/register", body, ip
        )
    except Refused:
        return
    tally.registers.append(done.seconds)
    tally.registered[user_id] = time.perf_counter()


async def crowd(pool: Pool, drop_id: str, people: int, spread_s: float, seed: int) -> Tally:
    tally = Tally()
    rng = random.Random(seed)
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            print(
                f"    {time.perf_counter() - start:5.0f} s: arrived {len(tasks)}, joined "
                f"{len(tally.joins)}, registered {len(tally.registered)}, "
                f"errors {sum(tally.errors.values())}",
                flush=True,
            )

    reporter = asyncio.create_task(progress())
    for i in range(people):
        wait = start + i * spread_s / people - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(person(pool, drop_id, i, tally, rng)))
    await asyncio.gather(*tasks)
    reporter.cancel()
    tally.registered = {u: t - start for u, t in tally.registered.items()}
    return tally


async def prepare_registrations(
    pool: Pool, drop_id: str, count: int, path: Path, seed: int
) -> Tally:
    """`count` registrations ready to send, one per line `ip<TAB>body`: each person joined
    and was admitted, and holds a solved challenge nobody has spent."""
    tally = Tally()
    rng = random.Random(seed)
    lines: list[str] = []

    async def one(i: int) -> None:
        ip, fingerprint = ip_of(12, i), f"device-wrk-{i}"
        try:
            token, challenge, nonce = await admitted(pool, drop_id, ip, fingerprint, tally, rng)
        except Refused:
            return
        body = registration_body(
            f"wrk-{i}", rng.randint(1, 10), fingerprint, challenge, nonce, token, rng
        )
        lines.append(f"{ip}\t{json.dumps(body, separators=(',', ':'))}")

    await asyncio.gather(*(one(i) for i in range(count)))
    await asyncio.to_thread(path.write_text, "\n".join(lines) + "\n")
    return tally
