"""What the API holds while it runs: settings, the NATS bus, the Restate client, the index."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TypeVar

from apps.api.batching import GroupCommit, Item, Result
from apps.api.proofs import ProofCache
from apps.api.snapshots import DropIndex
from apps.api.stalls import Stalls
from drop import durable
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.adapters.rate_limit import RateMemo
from drop.adapters.restate_ingress import RestateIngress
from drop.contracts import QueueConfig
from drop.domain import pow as pow_rules
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
    WebhookSettings,
)

log = logging.getLogger("api")
STALL_LOOKUP_S = 5.0
In = TypeVar("In")
T = TypeVar("T")


@dataclass
class ApiState:
    connections: ConnectionSettings
    secrets: SecretSettings
    api: ApiSettings
    queue: QueueSettings
    ingress: RestateIngress
    nats_auth: NatsAuthSettings
    index: DropIndex = field(default_factory=DropIndex)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    registrations: GroupCommit = field(init=False)
    joins: GroupCommit = field(init=False)
    stalls: Stalls = field(init=False)
    proofs: ProofCache = field(default_factory=ProofCache)
    # What this process last counted per rate limit, so a hit writes without reading first.
    rate_memo: RateMemo = field(default_factory=RateMemo)
    # Signs and checks proof-of-work challenges; every replica derives the same one.
    pow_key: bytes = field(init=False)
    bus: Bus | None = None
    _connector: asyncio.Task[None] | None = None
    restate_ok: bool = False
    _probe: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        # A batch's own answer, a stall lookup (restate_admin, 5 s) included, comes first.
        wait_s = self.connections.restate_timeout_seconds + STALL_LOOKUP_S
        self.registrations = GroupCommit(self._register_batch, wait_s)
        self.joins = GroupCommit(self._join_batch, wait_s)
        self.stalls = Stalls(self.connections.restate_admin_url)
        self.pow_key = pow_rules.challenge_key(self.secrets.session_secret)

    async def _join_batch(self, drop_id: str, items: list[Item], batch_id: str) -> list[Result]:
        config = QueueConfig.from_settings(self.queue).wire()
        body = durable.JoinBatch(joins=list(items), config=config)
        return await self._batch(durable.QUEUE_JOIN_BATCH, drop_id, body, batch_id)

    async def _register_batch(self, drop_id: str, items: list[Item], batch_id: str) -> list[Result]:
        body = durable.EntryBatch(entries=list(items))
        batch = self._batch(durable.DROP_REGISTER_BATCH, drop_id, body, batch_id)
        return list(await self.stalls.call(drop_id, batch))

    async def _batch(
        self, target: durable.Target[In, durable.Batch[T]], key: str, body: In, batch_id: str
    ) -> list[Result]:
        """One durable batch call; its idempotency key makes a retried call run once. Each
        result goes back to its request as the JSON the handler sent."""
        answer = await self.ingress.call(target, body, key=key, idempotency_key=batch_id)
        results: list[Result] = target.answer_wire(answer)["results"]
        return results

    async def _probe_restate(self) -> None:
        """Keep `restate_ok` current (once a second) for the liveness answer."""
        while True:
            self.restate_ok = await self.ingress.healthy()
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._connector = asyncio.create_task(self._connect())
        self._probe = asyncio.create_task(self._probe_restate())

    async def _connect(self) -> None:
        """Connect to NATS, retrying: the API starts (and reports unhealthy) without it."""
        while self.bus is None:
            try:
                self.bus = await nats_bus.connect(
                    self.connections.nats_url,
                    "drop-api",
                    user=self.nats_auth.nats_user,
                    password=self.nats_auth.nats_password,
                    replicas=self.connections.nats_replicas,
                    reconnected_cb=self._reconnected,
                )
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(1.0)
        self.index.start(self.bus)

    async def _reconnected(self) -> None:
        self.index.resume()

    async def stop(self) -> None:
        for task in (self._connector, self._probe):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.registrations.close()
        await self.joins.close()
        await self.index.stop()
        if self.bus is not None:
            await self.bus.close()
        await self.ingress.close()
