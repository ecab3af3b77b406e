"""Kill the worker at a chosen journal step and read durable state back through Restate.

The worker runs with `DROP_TEST_CRASH_AT` (apps/worker/crash_hook.py): a plan written to
that file ends the process right before step k of the named handler's invocation. `Rig`
writes the plan, runs the invocation, waits for the process to exit, restarts the worker
(with a new PYTHONHASHSEED, see `stack.reseeded`), asks Restate to retry at once instead of
after its backoff, and hands back the invocation's answer. State is read from Restate's
SQL view of the objects' state, so the checks see exactly what was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.eventually import eventually_async
from tests.support.stack import Stack, reseeded

CRASH_ENV = "DROP_TEST_CRASH_AT"


async def process_exit(pid: int) -> None:
    """Resolves when the process ends (a pidfd becomes readable): no polling."""
    fd = os.pidfd_open(pid)
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)


@dataclass
class Rig:
    stack: Stack
    ingress: httpx.AsyncClient
    admin: httpx.AsyncClient
    crashes: int = 0
    steps_seen: dict[str, int] = field(default_factory=dict)

    @property
    def plan_file(self) -> Path:
        return Path(self.stack.extra_env[CRASH_ENV])

    async def call(self, target: str, body: Any = None, **headers: str) -> httpx.Response:
        """`target` is `Service/key/handler` (or `Service/handler`)."""
        return await self.ingress.post(f"/{target}", json=body, headers=headers)

    async def crash_at(
        self, handler: str, step: int, key: str, action: Awaitable[Any]
    ) -> tuple[bool, Any]:
        """Run `action` with a crash planned before `step` of `handler` on `key`: (whether
        the worker died there, the action's answer after the restart). A step past the
        handler's last leaves the worker alive and the plan unused."""
        plan = f"{handler}:{step}@{key}"
        fired, answers = await self.crash_all([plan], [action])
        return plan in fired, answers[0]

    async def crash_all(
        self, plans: list[str], actions: list[Awaitable[Any]]
    ) -> tuple[set[str], list[Any]]:
        """Run `actions` together with every plan armed, restarting the worker each time
        it dies, until all are answered: (the plans that fired, the answers in order)."""
        self.plan_file.write_text("".join(f"{p}\n" for p in plans))
        keys = sorted({p.rpartition("@")[2] for p in plans})
        answers = asyncio.ensure_future(asyncio.gather(*actions))
        back: asyncio.Future[None] | None = None
        while True:
            popen = self.stack.procs["worker"].popen
            assert popen is not None
            died = asyncio.ensure_future(process_exit(popen.pid))
            await asyncio.wait({answers, died}, return_when=asyncio.FIRST_COMPLETED)
            if not died.done():
                died.cancel()
                break
            # It may die again before it answers its health check: start it over then.
            self.crashes += 1
            if back is not None:
                back.cancel()
            proc = reseeded(self.stack.procs["worker"])
            await asyncio.to_thread(proc.restart)
            back = asyncio.ensure_future(self.when_back(keys))
        if back is not None:
            await back
        left = set(self.plan_file.read_text().splitlines())
        self.plan_file.write_text("")
        return set(plans) - left, list(answers.result())

    async def when_back(self, keys: list[str]) -> None:
        """Once the worker answers again, what waits out a retry backoff is retried now."""
        health = f"{self.stack.url('worker')}/health"

        async def healthy() -> None:
            assert (await self.admin.get(health)).status_code == 200

        await eventually_async(
            healthy, what="the worker answering again", timeout=120, retry_on=(httpx.HTTPError,)
        )
        await self.retry_now(keys)

    async def retry_now(self, keys: list[str]) -> None:
        """Invocations on `keys` waiting out their retry backoff are retried at once."""
        listed = ", ".join(f"'{k}'" for k in keys)
        rows = await self.sql(
            f"SELECT id FROM sys_invocation WHERE target_service_key IN ({listed}) "
            "AND status = 'backing-off'"
        )
        for row in rows:
            with contextlib.suppress(httpx.HTTPError):
                await self.admin.patch(f"/invocations/{row['id']}/resume")

    async def ok(self, target: str, body: Any = None) -> Any:
        r = await self.call(target, body)
        assert r.status_code == 200, (target, r.status_code, r.text)
        return r.json() if r.content else None

    async def sql(self, query: str) -> list[dict[str, Any]]:
        return await sql(self.admin, query)

    async def state(self, service: str, key: str) -> dict[str, Any]:
        return await object_state(self.admin, service, key)

    async def stuck(self, key: str) -> list[dict[str, Any]]:
        """Invocations on `key` failing or paused."""
        return await self.sql(
            "SELECT target, status, last_failure FROM sys_invocation WHERE "
            f"target_service_key = '{key}' AND status IN ('paused', 'backing-off')"
        )


async def sql(admin: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    """Rows of a query on Restate's admin SQL API (`admin` based at the admin URL)."""
    r = await admin.post("/query", json={"query": query}, headers={"accept": "application/json"})
    assert r.status_code == 200, r.text
    return list(r.json()["rows"])


async def object_state(admin: httpx.AsyncClient, service: str, key: str) -> dict[str, Any]:
    """An object's committed state, every key decoded from JSON."""
    rows = await sql(
        admin,
        "SELECT key, value_utf8 FROM state WHERE service_name = "
        f"'{service}' AND service_key = '{key}'",
    )
    return {str(r["key"]): json.loads(r["value_utf8"]) for r in rows}


def with_prefix(st: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in st.items() if k.startswith(prefix)}


def check_drop(st: dict[str, Any], initial: int) -> None:
    """A drop's committed state keeps every promise: entries, orders, inventory."""
    core = st["core"]
    assert "alarm" not in st, st["alarm"]
    assert "halted" not in core, core["halted"]
    rows = [row for n in range(len(with_prefix(st, "entries:"))) for row in st[f"entries:{n}"]]
    positions = with_prefix(st, "user:")
    assert core["participantCount"] == len(rows) == len(positions), (core, len(rows))
    assert {str(r[0]): i for i, r in enumerate(rows, start=1)} == positions
    assert core["totalTickets"] == sum(int(r[1]) for r in rows)
    ledger = st.get("orders", [])
    orders = with_prefix(st, "order:")
    assert len(ledger) <= initial
    assert len({o[0] for o in ledger}) == len(ledger), ledger
    assert {o[1]: o[0] for o in ledger} == {u: o["orderId"] for u, o in orders.items()}
    assert core["inventory"] == initial - len(ledger), (core["inventory"], ledger)
    winners = with_prefix(st, "winner:")
    bought = {u for u, w in winners.items() if w["state"] == "purchased"}
    assert bought == set(orders), (bought, set(orders))
    assert {u for u, t in with_prefix(st, "tok:").items() if t["used"]} == bought
    if "drawn" in st:
        assert set(winners) <= set(st["drawn"])


def check_queue(st: dict[str, Any]) -> None:
    """The waiting room's counters match its tokens, and devices and networks hold only
    live places."""
    meta = st["meta"]
    toks = with_prefix(st, "tok:")
    assert meta["tail"] == len(toks)
    statuses = Counter(t["status"] for t in toks.values())
    for status in ("waiting", "ready", "used", "expired"):
        assert meta[status] == statuses[status], (status, meta, statuses)
    line = [e[0] for n in range(len(with_prefix(st, "line:"))) for e in st[f"line:{n}"]]
    assert sorted(toks[t]["seq"] for t in line) == list(range(1, meta["tail"] + 1))
    # A network's list may still hold tokens spent since (a join at its limit clears them).
    for prefix, live, spent in (
        ("fp:", {"waiting", "ready", "used"}, set()),
        ("ip:", {"waiting", "ready"}, {"used"}),
    ):
        held = with_prefix(st, prefix)
        holders = {t: h for h, ts in held.items() for t in ts}
        assert len(holders) == sum(len(ts) for ts in held.values()), held
        expected = {t for t, r in toks.items() if r["status"] in live}
        allowed = {t for t, r in toks.items() if r["status"] in spent}
        assert expected <= set(holders) <= expected | allowed, (prefix, set(holders) ^ expected)
        assert all(toks[t][prefix[:-1]] == h for t, h in holders.items()), prefix
    # Every ready token is in its admission batch's list, so its sweep will find it.
    listed = {t: int(n) for n, ts in with_prefix(st, "rb:").items() for t in ts}
    for t, r in toks.items():
        if t in listed:
            assert listed[t] == r.get("batch", listed[t]), (t, r, listed[t])
        if r["status"] == "ready":
            assert t in listed, (t, r)
