"""Group commit: concurrent requests for one key share one durable call.

While a batch for a key is in flight, new arrivals wait together; when it returns, they
all go as the next batch. A quiet key sends each request alone (no added delay); a busy
one sends fewer, larger calls, so throughput grows with the crowd instead of being one
serialised invocation per person.

Each request waits at most `wait_s` in all. When the durable layer stalls, the batch in
flight holds its key's later arrivals back; without a bound of their own they would wait
for it and then for their own batch, each up to the ingress timeout. A request still
waiting to be sent at its deadline leaves the queue (503: nothing was sent); one whose
batch is in flight gets 504 (its outcome is unknown; a retry with its idempotency key
converges).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from drop import tracing
from drop.adapters.restate_ingress import TIMED_OUT, UNAVAILABLE, DurableCallError

Item = dict[str, Any]
Result = dict[str, Any]
# (key, items, idempotency key) -> one result per item, in order
SendBatch = Callable[[str, list[Item], str], Awaitable[list[Result]]]

# A batch the durable layer may already have taken is retried under the same idempotency
# key, so it runs once; these statuses say the answer was lost, not refused.
RETRYABLE = frozenset({502, 503, 504})


@dataclass(eq=False)  # found in its queue by identity
class _Waiting:
    item: Item
    answer: asyncio.Future[Result]
    # The request's trace (tracing on), which the shared call joins.
    trace: Any = None
    sent: bool = False


@dataclass
class GroupCommit:
    send: SendBatch
    # Longer than one durable call's timeout, so a batch's own answer (a 504, or the stall
    # it was found to be behind) comes first where it can.
    wait_s: float
    max_batch: int = 200
    retries: int = 2
    _queues: dict[str, list[_Waiting]] = field(default_factory=dict)
    _flushers: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def submit(self, key: str, item: Item) -> Result:
        """This item's own result (`{"ok": ...}` or `{"error": ...}`) from a shared call."""
        waiting = _Waiting(item, asyncio.get_running_loop().create_future(), tracing.current())
        self._queues.setdefault(key, []).append(waiting)
        if key not in self._flushers:
            self._flushers[key] = asyncio.create_task(self._flush(key))
        try:
            async with asyncio.timeout(self.wait_s):
                return await asyncio.shield(waiting.answer)
        except TimeoutError:
            if waiting.answer.done():  # answered as the deadline passed
                return waiting.answer.result()
            waiting.answer.cancel()  # whatever comes back later has nobody to go to
            if waiting.sent:
                raise DurableCallError(504, TIMED_OUT, "durable_timeout") from None
            queue = self._queues.get(key, [])
            if waiting in queue:
                queue.remove(waiting)
            raise DurableCallError(503, UNAVAILABLE, "durable_unavailable") from None

    async def _flush(self, key: str) -> None:
        try:
            while queue := self._queues.get(key):
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                for w in batch:
                    w.sent = True
                await self._send(key, batch)
        finally:
            self._flushers.pop(key, None)
            if not self._queues.get(key):
                self._queues.pop(key, None)

    async def _send(self, key: str, batch: list[_Waiting]) -> None:
        batch_id = f"b{uuid.uuid4().hex}"
        for attempt in range(self.retries + 1):
            if all(w.answer.done() for w in batch):
                return  # every request of it has had its answer (its deadline): no retry
            try:
                with tracing.joined_span("group commit", [w.trace for w in batch]):
                    results = await self.send(key, [w.item for w in batch], batch_id)
            except DurableCallError as exc:
                if exc.status in RETRYABLE and attempt < self.retries:
                    continue
                for w in batch:
                    if not w.answer.done():
                        w.answer.set_exception(exc)
                return
            except Exception as exc:
                for w in batch:
                    if not w.answer.done():
                        w.answer.set_exception(exc)
                return
            for w, result in zip(batch, results, strict=True):
                if not w.answer.done():
                    w.answer.set_result(result)
            return

    async def close(self) -> None:
        for task in list(self._flushers.values()):
            task.cancel()
