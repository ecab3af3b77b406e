"""What the streams share in one process: the NATS feeds, the hub, the board, the gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nats.js.kv import KeyValue

from apps.sse.board import Board
from apps.sse.fanout import Hub, Item
from apps.sse.sessions import SessionCheck
from apps.sse.tail import StreamTail
from drop import events
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.settings import SseSettings

log = logging.getLogger(__name__)


@dataclass
class Gate:
    """The connection cap: past it new streams are refused (503), open ones are untouched."""

    cap: int
    open: int = 0

    def enter(self) -> bool:
        if self.open >= self.cap:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


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
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = Gate(self.settings.sse_max_connections)

    @classmethod
    async def start(cls, settings: SseSettings, sessions: SessionCheck, nats_url: str) -> Runtime:
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

        bus = await nats_bus.connect(nats_url, "sse", reconnected_cb=on_reconnect)
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
        return cls(
            settings=settings,
            sessions=sessions,
            bus=bus,
            hub=hub,
            board=board,
            drops=drops,
            queue=queue,
            index=index,
            queue_tokens=await bus.kv(events.QUEUE_TOKENS_BUCKET),
        )

    async def stop(self) -> None:
        self.hub.close_all("shutdown")
        self.board.close()
        for tail in (self.drops, self.queue):
            await tail.close()
        await self.bus.close()
