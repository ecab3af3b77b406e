"""Key-value writes gathered into one NATS round trip per bucket (group commit).

Every guard of a join or a registration writes one key (a rate counter, a spent
proof-of-work, a claim, a session record, an idempotency record), each a compare-and-set
or a plain put, and the waiting room mirrors every token it moves. Sent one by one, each
is a JetStream publish answered by its own ack.
`BatchedKeyValue` is a drop-in `KeyValue` whose writes wait while a batch of the same
bucket is in flight, then go together as one *atomic batch* (nats-server 2.12+, ADR-50):
every message but the last is sent without a reply, the last commits them all and is the
one acknowledged. While fewer than `MIN_ATOMIC` writes of the bucket are in flight a new
one goes straight out alone, with no added delay: for a few writes an atomic batch costs
the server more than it saves.

An atomic batch is applied whole or not at all. Each message keeps its own expectation
(`Nats-Expected-Last-Subject-Sequence`), so a compare-and-set is exactly as strict as
alone: when any one fails, none is stored and every write of the batch is sent again on
its own through `KeyValue`'s own method, which then answers each caller exactly as an
unbatched write would (a lost race raises `KeyWrongLastSequenceError`, a deleted key is
created again, ...). No answer at all (timeout, lost connection) reaches every caller as
the error it is, as for a single write: guards fail closed on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import InvalidKeyError
from nats.js.kv import KV_DEL, KV_OP, KeyValue, _is_key_valid

from drop.adapters.nats_link import WatchedClient

log = logging.getLogger(__name__)

# The server refuses atomic batches over 1,000 messages; smaller ones keep each commit's
# answer quick and a rejected batch's replay short.
MAX_BATCH = 200
# An atomic batch costs the server a fixed amount besides its messages (measured with
# nats-server 2.15 on 2 shared cores: 4,000 creates at 10 in flight took 230-250 us of
# server CPU each in batches against 30 us one by one; at 100 in flight, 38 against 20,
# with the client's CPU down from 110 to 44 us a write). Fewer writes than this go one by
# one, concurrently, as they would unbatched; so does a smaller gathering.
MIN_ATOMIC = 40
EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"


@dataclass
class _Write:
    """One write: `last` None stores unconditionally, 0 only if the key holds nothing, n
    only if the key's last revision is n."""

    key: str
    value: bytes
    last: int | None
    delete: bool = False
    answer: asyncio.Future[int] = field(default_factory=lambda: _future())

    def headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.delete:
            found[KV_OP] = KV_DEL
        if self.last is not None:
            found[EXPECTED_LAST] = str(self.last)
        return found


def _future() -> asyncio.Future[int]:
    return asyncio.get_running_loop().create_future()


class BatchRejected(Exception):
    """The server refused the whole batch (an expectation failed, or a batch limit)."""


class BatchedKeyValue(KeyValue):
    """A `KeyValue` whose put, create, update and delete share atomic batches."""

    def __init__(self, kv: KeyValue, nc: WatchedClient, js: JetStreamContext, timeout: float):
        super().__init__(name=kv._name, stream=kv._stream, pre=kv._pre, js=js, direct=kv._direct)
        self._nc = nc
        self._timeout = timeout
        self._queue: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None
        # Writes sent one by one and not yet answered: below MIN_ATOMIC of them a new write
        # goes straight out too; past it, writes gather for the next atomic batch.
        self._in_flight = 0
        # Requests sent to the server for writes (a batch's commit counts once), for tests
        # and benchmarks.
        self.round_trips = 0

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        return await self._submit(_Write(key, value, None), validate_keys)

    async def create(
        self, key: str, value: bytes, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> int:
        if msg_ttl is not None:
            return await super().create(key, value, validate_keys, msg_ttl)
        return await self._submit(_Write(key, value, 0), validate_keys)

    async def update(
        self, key: str, value: bytes, last: int | None = None, validate_keys: bool = True
    ) -> int:
        # As in KeyValue.update, no revision means "only if the key holds nothing".
        return await self._submit(_Write(key, value, last or 0), validate_keys)

    async def delete(
        self,
        key: str,
        last: int | None = None,
        validate_keys: bool = True,
        msg_ttl: float | None = None,
    ) -> bool:
        # As in KeyValue.delete, a revision of 0 or none deletes unconditionally.
        expected = last if last and last > 0 else None
        await self._submit(_Write(key, b"", expected, delete=True), validate_keys)
        return True

    async def _submit(self, write: _Write, validate_keys: bool) -> int:
        if validate_keys:
            self._check_key(write.key)
        if self._in_flight < MIN_ATOMIC and not self._queue:
            return await self._one(write)
        self._queue.append(write)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await asyncio.shield(write.answer)

    def _check_key(self, key: str) -> None:
        if not _is_key_valid(key):
            raise InvalidKeyError(key)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                await self._send(batch)
        finally:
            self._flusher = None

    async def _send(self, batch: list[_Write]) -> None:
        if len(batch) >= MIN_ATOMIC:
            try:
                revisions = await self._commit(batch)
            except BatchRejected:
                pass  # replayed one by one below, each answered as if alone
            except Exception as exc:
                for write in batch:
                    _settle(write, exc)
                return
            else:
                for write, revision in zip(batch, revisions, strict=True):
                    if not write.answer.done():
                        write.answer.set_result(revision)
                return
        await asyncio.gather(*(self._alone(write) for write in batch))

    async def _alone(self, write: _Write) -> None:
        try:
            revision = await self._one(write)
        except Exception as exc:
            _settle(write, exc)
            return
        if not write.answer.done():
            write.answer.set_result(revision)

    async def _one(self, write: _Write) -> int:
        """`write` on its own, through KeyValue's own method (its answers and errors)."""
        self.round_trips += 1
        self._in_flight += 1
        try:
            if write.delete:
                await super().delete(write.key, write.last, validate_keys=False)
                return 0
            if write.last is None:
                return await super().put(write.key, write.value, validate_keys=False)
            if write.last == 0:
                return await super().create(write.key, write.value, validate_keys=False)
            return await super().update(write.key, write.value, write.last, validate_keys=False)
        finally:
            self._in_flight -= 1

    async def _commit(self, batch: list[_Write]) -> list[int]:
        """Send `batch` as one atomic batch; the revision each write got."""
        batch_id = uuid.uuid4().hex
        *first, last = batch
        for number, write in enumerate(first, 1):
            headers = {**write.headers(), BATCH_ID: batch_id, BATCH_SEQUENCE: str(number)}
            await self._nc.publish(self._pre + write.key, write.value, headers=headers)
        headers = {
            **last.headers(),
            BATCH_ID: batch_id,
            BATCH_SEQUENCE: str(len(batch)),
            BATCH_COMMIT: "1",
        }
        self.round_trips += 1
        reply = await self._nc.request(
            self._pre + last.key, last.value, timeout=self._timeout, headers=headers
        )
        ack: dict[str, Any] = json.loads(reply.data or b"{}")
        if "error" in ack or "seq" not in ack:
            raise BatchRejected(str(ack.get("error")))
        # The batch is stored as one run of consecutive sequences, ending at the ack's.
        end = int(ack["seq"])
        return [end - len(batch) + 1 + i for i in range(len(batch))]


def _settle(write: _Write, exc: BaseException) -> None:
    if not write.answer.done():
        write.answer.set_exception(exc)
