"""A thin test client for the API, plus awaiting events on NATS instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.js.api import DeliverPolicy

from drop.adapters.nats_bus import Bus

ADMIN = {"Authorization": "Bearer test-admin-secret"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class DropApi:
    client: httpx.AsyncClient
    sessions: dict[str, str] = field(default_factory=dict)
    recovery_codes: dict[str, str] = field(default_factory=dict)

    async def create(self, drop_id: str, **overrides: Any) -> dict[str, Any]:
        start = now_ms()
        body = {
            "dropId": drop_id,
            "inventory": 5,
            "registrationStart": start,
            "registrationEnd": start + 5000,
            "purchaseWindow": 4,
            **overrides,
        }
        r = await self.client.post("/api/drops", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def register(
        self,
        drop_id: str,
        user_id: str,
        tickets: int,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        """Register as the holder of `user_id`: its session goes along once there is one."""
        body = {"userId": user_id, "tickets": tickets, **extra}
        sent = {**(self.auth(user_id) if user_id in self.sessions else {}), **(headers or {})}
        r = await self.client.post(f"/api/drop/{drop_id}/register", json=body, headers=sent)
        self.client.cookies.clear()  # one client plays many users: sessions go by bearer
        self.keep_session(user_id, r)
        if r.status_code == 200 and "recoveryCode" in r.json():
            self.recovery_codes[user_id] = r.json()["recoveryCode"]
        return r

    def keep_session(self, user_id: str, r: httpx.Response) -> None:
        if "x-session-token" in r.headers:
            self.sessions[user_id] = r.headers["x-session-token"]

    async def recover(self, user_id: str, code: str) -> httpx.Response:
        r = await self.client.post(
            "/api/session/recover", json={"userId": user_id, "recoveryCode": code}
        )
        self.client.cookies.clear()
        self.keep_session(user_id, r)
        return r

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sessions[user_id]}"}

    async def start_purchase(
        self, drop_id: str, user_id: str, as_user: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/drop/{drop_id}/purchase/start",
            json={"userId": user_id},
            headers=self.auth(as_user or user_id),
        )

    async def purchase(
        self, drop_id: str, user_id: str, token: str, as_user: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/drop/{drop_id}/purchase",
            json={"userId": user_id, "purchaseToken": token},
            headers=self.auth(as_user or user_id),
        )

    async def buy(self, drop_id: str, user_id: str) -> dict[str, Any]:
        started = await self.start_purchase(drop_id, user_id)
        assert started.status_code == 200, started.text
        done = await self.purchase(drop_id, user_id, started.json()["purchaseToken"])
        assert done.status_code == 200, done.text
        return dict(done.json())

    async def status(self, drop_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/drop/{drop_id}/status")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def me(self, drop_id: str, user_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/drop/{drop_id}/me/{user_id}", headers=self.auth(user_id))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def draw_after_close(self, bus: Bus, drop_id: str) -> dict[str, Any]:
        """The draw, which may run only once registration has closed: wait for the timer's
        draw (a state event leaving registration), then ask for it as the admin too."""
        async with events(bus, f"drop.{drop_id}.state") as log:
            if (await self.status(drop_id))["phase"] == "registration":
                await log.wait_for(lambda _, e: e["data"]["phase"] != "registration")
        r = await self.client.post(f"/api/drop/{drop_id}/lottery", headers=ADMIN)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def proof(self, drop_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/drop/{drop_id}/lottery-proof?participants=true")
        assert r.status_code == 200, r.text
        return dict(r.json())


@asynccontextmanager
async def events(bus: Bus, subject: str) -> AsyncIterator[EventLog]:
    """Collect every event stored on `subject` while the block runs.

    Read through a JetStream consumer, as every real consumer (the SSE service) reads them:
    a publish retried after a crash reaches plain core subscribers twice, but JetStream
    keeps it once (same `Nats-Msg-Id`), and that is the delivery that must not repeat.
    """
    log = EventLog()
    sub = await bus.js.subscribe(
        subject, cb=log.on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    try:
        yield log
    finally:
        await sub.unsubscribe()


@dataclass
class EventLog:
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_msg(self, msg: Any) -> None:
        self.items.append((msg.subject, json.loads(msg.data)))
        self.changed.set()

    async def wait_for(
        self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first event (seen so far or arriving) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for subject, event in self.items[seen:]:
                if predicate(subject, event):
                    return event
            seen = len(self.items)
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event in {timeout}s; saw {len(self.items)}")
            await asyncio.wait_for(self.changed.wait(), remaining)

    async def phase(self, drop_id: str, phase: str, timeout: float = 30.0) -> dict[str, Any]:
        event = await self.wait_for(
            lambda s, e: s == f"drop.{drop_id}.state" and e["data"]["phase"] == phase, timeout
        )
        return dict(event["data"])

    def ids(self) -> list[str]:
        return [e["id"] for _, e in self.items]
