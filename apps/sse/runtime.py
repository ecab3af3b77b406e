"""What the streams share in one process: the NATS feeds, the hub, the board, the gate."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from nats.js.kv import KeyValue
from sse_starlette.sse import AppStatus

from apps.sse.board import Board
from apps.sse.fanout import Hub, Item, Listener
from apps.sse.gate import Gate
from apps.sse.sessions import SessionCheck
from apps.sse.tail import StreamTail
from drop import events
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.adapters.session_store import UserSessionStore
from drop.settings import ConnectionSettings, NatsAuthSettings, SseSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: SseSettings
    sessions: SessionCheck
    bus: Bus
    hub: Hub
    board: Board
    drops: StreamTail
    queue: StreamTail
    index: KeyValue
    queue_tokens: KeyValue
    rollover: KeyValue
    loyalty: KeyValue
    user_sessions: UserSessionStore
    gate: Gate = field(init=False)
    listeners: set[Listener[Any]] = field(default_factory=set)
    draining: bool = False
    _clock: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.gate = Gate(self.settings.sse_max_connections, self.settings.sse_max_streams_per_ip)

    async def _run_clock(self) -> None:
        """Heartbeats for idle streams, and a clean end of every stream when the server stops.

        Ticking twice per heartbeat period bounds the silence on any stream by the period.
        """
        loop = asyncio.get_running_loop()
        period = self.settings.sse_heartbeat_seconds / 2
        next_tick = loop.time() + period
        while True:
            await asyncio.sleep(min(0.25, period))
            # sse-starlette flags uvicorn's exit signal; uvicorn then waits for open
            # responses, so ending the streams here is what lets it finish promptly.
            if AppStatus.should_exit and not self.draining:
                self.draining = True
                for listener in tuple(self.listeners):
                    listener.close("shutdown")
            if loop.time() >= next_tick:
                next_tick = loop.time() + period
                for listener in tuple(self.listeners):
                    listener.tick()

    @classmethod
    async def start(
        cls,
        settings: SseSettings,
        sessions: SessionCheck,
        connections: ConnectionSettings,
        auth: NatsAuthSettings,
    ) -> Runtime:
        hub = Hub()
        board = Board(settings.sse_drops_coalesce_ms / 1000)
        tails: list[StreamTail] = []

        async def on_reconnect() -> None:
            log.info("nats reconnected: resuming the stream feeds")
            for tail in tails:
                tail.resume()

        def on_drop_event(item: Item) -> None:
            board.apply(item)
            hub.dispatch(item)

        bus = await nats_bus.connect(
            connections.nats_url,
            "sse",
            user=auth.nats_user,
            password=auth.nats_password,
            reconnected_cb=on_reconnect,
            replicas=connections.nats_replicas,
        )
        drops = StreamTail(bus.js, events.DROPS_STREAM, "drop.>", on_drop_event)
        queue = StreamTail(bus.js, events.QUEUE_STREAM, "queue.>", hub.dispatch)
        tails += [drops, queue]
        index = await bus.kv(events.DROPS_INDEX_BUCKET)
        # Order matters: the stream's end first, then the index (at least as new), then
        # follow the stream from that end, so no state change falls between the two.
        board.seq = await drops.prime()
        await board.load(index)
        await queue.prime()
        for tail in tails:
            await tail.start()
        runtime = cls(
            settings=settings,
            sessions=sessions,
            bus=bus,
            hub=hub,
            board=board,
            drops=drops,
            queue=queue,
            index=index,
            queue_tokens=await bus.kv(events.QUEUE_TOKENS_BUCKET),
            rollover=await bus.kv(events.ROLLOVER_BUCKET),
            loyalty=await bus.kv(events.LOYALTY_BUCKET),
            user_sessions=UserSessionStore(await bus.kv(events.USER_SESSIONS_BUCKET)),
        )
        runtime._clock = asyncio.get_running_loop().create_task(runtime._run_clock())
        return runtime

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
        for listener in tuple(self.listeners):
            listener.close("shutdown")
        self.hub.close_all("shutdown")
        self.board.close()
        for tail in (self.drops, self.queue):
            await tail.close()
        await self.bus.close()
