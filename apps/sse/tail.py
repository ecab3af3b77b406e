"""Follow one JetStream stream from a known sequence, resuming exactly there after outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from apps.sse.fanout import Item

log = logging.getLogger(__name__)
Resume = Literal["reached", "behind", "unknown"]

# The callback only routes in memory, so it never falls behind; the limits only guard memory.
_PENDING_MSGS = 1_000_000
_PENDING_BYTES = 512 * 1024 * 1024


class StreamTail:
    """One ephemeral push consumer per stream and process (never one per browser).

    `last_seq` is the last stream sequence handed to `sink`. After a reconnection, or a
    gap in the consumer's own sequence, the consumer is recreated from `last_seq + 1`,
    so nothing is skipped and nothing is handed over twice.
    """

    def __init__(
        self, js: JetStreamContext, stream: str, subject: str, sink: Callable[[Item], None]
    ) -> None:
        self._js = js
        self._stream = stream
        self._subject = subject
        self._sink = sink
        self._sub: Any = None
        self._next_dseq = 1
        self._resuming: asyncio.Task[None] | None = None
        self._closed = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.last_seq = 0

    async def prime(self) -> int:
        """Start from the stream's current end (call before loading any snapshot)."""
        info = await self._js.stream_info(self._stream)
        self.last_seq = int(info.state.last_seq)
        return self.last_seq

    async def start(self) -> None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.last_seq + 1,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=30.0,
        )
        self._next_dseq = 1
        self._sub = await self._js.subscribe(
            self._subject,
            stream=self._stream,
            cb=self._on_msg,
            config=config,
            manual_ack=True,
            pending_msgs_limit=_PENDING_MSGS,
            pending_bytes_limit=_PENDING_BYTES,
        )

    async def _on_msg(self, msg: Msg) -> None:
        try:
            meta = msg.metadata
        except Exception:  # not a stream message (a status or control message)
            return
        if meta.sequence.consumer != self._next_dseq:
            log.warning("consumer gap on %s: resuming after %d", self._stream, self.last_seq)
            self.resume()
            return
        self._next_dseq += 1
        seq = int(meta.sequence.stream)
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        item = Item.parse(seq, msg.subject, msg.data)
        if item is not None:
            self._sink(item)
        if self._waiters:
            self._wake()

    async def caught_up(self, seq: int, timeout: float) -> Resume:
        """Whether this process has handed over everything up to `seq` within `timeout`
        seconds ("reached"). A client resuming from another replica may be ahead of this
        one's tail: "behind" when the stream has `seq` but this tail did not get there in
        time. A sequence the stream itself has not reached is not one of its ids, and is
        not waited for ("unknown"; also when the tail did not get there and the stream could
        not be asked)."""
        if seq <= self.last_seq:
            return "reached"
        holds: bool | None = None
        try:
            info = await self._js.stream_info(self._stream)
            holds = seq <= int(info.state.last_seq)
        except Exception as exc:  # the lagging node may not answer at once: wait all the same
            log.debug("stream_info %s: %s", self._stream, exc)
        if holds is False:
            return "unknown"
        reached = asyncio.get_running_loop().create_future()
        entry = (seq, reached)
        self._waiters.append(entry)
        self._wake()  # the tail may have moved during the stream_info call
        try:
            await asyncio.wait_for(reached, timeout)
        except TimeoutError:
            return "behind" if holds else "unknown"
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return "reached"

    def _wake(self) -> None:
        waiting = []
        for seq, reached in self._waiters:
            if seq <= self.last_seq:
                if not reached.done():
                    reached.set_result(None)
            else:
                waiting.append((seq, reached))
        self._waiters = waiting

    def resume(self) -> None:
        """Recreate the consumer from `last_seq + 1` (idempotent while one is in progress)."""
        if self._closed or (self._resuming is not None and not self._resuming.done()):
            return
        self._resuming = asyncio.get_running_loop().create_task(self._resume())

    async def _resume(self) -> None:
        delay = 0.1
        while not self._closed:
            await self._drop_sub()
            try:
                await self.start()
            except Exception as exc:  # JetStream may still be recovering after a restart
                log.info("resuming %s failed (%s); retrying in %.1fs", self._stream, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            log.info("resumed %s after seq %d", self._stream, self.last_seq)
            return

    async def _drop_sub(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # already gone with the old connection
                log.debug("unsubscribe %s: %s", self._stream, exc)

    async def close(self) -> None:
        self._closed = True
        if self._resuming is not None:
            self._resuming.cancel()
        await self._drop_sub()
