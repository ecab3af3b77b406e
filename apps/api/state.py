"""What the API holds while it runs: settings, the NATS bus, the Restate client, the index."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from apps.api.snapshots import DropIndex
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import RestateIngress
from drop.settings import (
    ApiSettings,
    ConnectionSettings,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
)

log = logging.getLogger("api")


@dataclass
class ApiState:
    connections: ConnectionSettings
    secrets: SecretSettings
    api: ApiSettings
    queue: QueueSettings
    ingress: RestateIngress
    nats_auth: NatsAuthSettings
    index: DropIndex = field(default_factory=DropIndex)
    bus: Bus | None = None
    _connector: asyncio.Task[None] | None = None
    _restate_checked: tuple[float, bool] = (0.0, False)

    async def restate_reachable(self, max_age_s: float = 1.0) -> bool:
        """Restate's health, asked at most once a second however often /health is hit."""
        at, ok = self._restate_checked
        now = time.monotonic()
        if now - at > max_age_s:
            ok = await self.ingress.healthy()
            self._restate_checked = (now, ok)
        return ok

    def start(self) -> None:
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        """Connect to NATS, retrying: the API starts (and reports unhealthy) without it."""
        while self.bus is None:
            try:
                self.bus = await nats_bus.connect(
                    self.connections.nats_url,
                    "drop-api",
                    user=self.nats_auth.nats_user,
                    password=self.nats_auth.nats_password,
                )
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(1.0)
        self.index.start(self.bus)

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        await self.index.stop()
        if self.bus is not None:
            await self.bus.close()
        await self.ingress.close()
