"""The outcome feed: people's status events in, one `MailFanout` invocation per batch of
messages out.

A durable JetStream pull consumer (`mailer`) reads every `drop.{id}.user.{uid}` event the
drop's handlers already publish, so the draw and the live outcomes never wait for mail.
The events of a fetch that call for a message to someone with an address become one
`MailFanout.dispatch` call (DISPATCH_SIZE messages at most), idempotency-keyed by its
messages' keys, and the fetch is acknowledged only once Restate has accepted that call. A
crash anywhere in between delivers the events again: the same batch is the same call, and
a batch cut differently finds its messages claimed (fanout.py). The feed then waits a while
for the batch to be sent before reading more, so a draw's mail reaches Restate a batch at
a time, and steps aside while the events behind it pile up (`Backlog`): a draw telling
tens of thousands goes first, its mail after.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from drop import durable, events
from drop.adapters.contact_store import ContactStore
from drop.adapters.nats_bus import Bus
from drop.adapters.restate_ingress import DurableCallError, RestateIngress
from drop.domain import mail

log = logging.getLogger("worker.mail")

DURABLE_NAME = "mailer"
SUBJECTS = "drop.*.user.*"
BATCH = 256
# An event not acknowledged within this is delivered again (its send was never accepted).
ACK_WAIT_S = 60.0
RETRY_DELAY_S = 2.0
# Messages sent by one `MailFanout.dispatch` call.
DISPATCH_SIZE = 500
# The longest the feed waits for a batch's sends before reading the next (`_pace`).
PACE_S = 20.0
# While a drop publishes people's statuses faster than mail goes (a draw telling tens of
# thousands at once, a registration surge), the feed steps aside: the live outcomes get
# the cores first. It waits while the backlog behind it keeps growing, checking every
# YIELD_STEP_S, for YIELD_MAX_S at most before its next batch, so mail still moves.
YIELD_BACKLOG = 2_000
YIELD_STEP_S = 0.5
YIELD_MAX_S = 30.0


@dataclass
class Backlog:
    """The events still to read behind the feed, and whether they are piling up: more
    than YIELD_BACKLOG, and more than at the last look."""

    left: int
    before: int

    def growing(self) -> bool:
        return self.left >= YIELD_BACKLOG and self.left > self.before

    def now(self, left: int) -> None:
        self.before, self.left = self.left, left


@dataclass
class OutcomeFeed:
    bus: Bus
    ingress: RestateIngress
    _last_left: int = 0

    async def run(self) -> None:
        """Read and hand on events until cancelled; a failed read is retried."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mail feed interrupted (%r); resuming", exc)
                await asyncio.sleep(RETRY_DELAY_S)

    async def _consume(self) -> None:
        config = ConsumerConfig(
            durable_name=DURABLE_NAME,
            # Mail starts with what happens from the first start on, never a week of past
            # events at once; the durable position carries it across restarts after that.
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=BATCH * 8,
            filter_subject=SUBJECTS,
        )
        sub = await self.bus.js.pull_subscribe(
            SUBJECTS, durable=DURABLE_NAME, stream=events.DROPS_STREAM, config=config
        )
        try:
            while True:
                try:
                    msgs = await sub.fetch(BATCH, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                if not msgs:  # nats-py answers an empty fetch this way too
                    continue
                await self.handle(msgs)
                await self._yield_to_publishing(sub, msgs[-1].metadata.num_pending)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _yield_to_publishing(self, sub: JetStreamContext.PullSubscription, left: int) -> None:
        backlog = Backlog(left, self._last_left)
        waited = 0.0
        while backlog.growing() and waited < YIELD_MAX_S:
            await asyncio.sleep(YIELD_STEP_S)
            waited += YIELD_STEP_S
            backlog.now((await sub.consumer_info()).num_pending or 0)
        self._last_left = backlog.left

    async def handle(self, msgs: list[Msg]) -> None:
        """Start the batch's messages, then ack it; on failure nak it whole."""
        try:
            found = await asyncio.gather(*(self.message_for(m.data) for m in msgs))
            messages = {
                mail.mail_key(m.drop_id, m.user_id, m.kind): m for m in found if m is not None
            }
            keys = sorted(messages)
            batches = []
            for first in range(0, len(keys), DISPATCH_SIZE):
                chunk = keys[first : first + DISPATCH_SIZE]
                # The same messages sent again (a batch re-delivered) are the same call.
                key = hashlib.sha256("|".join(chunk).encode()).hexdigest()
                batch = durable.MailBatch(messages=[messages[k] for k in chunk])
                await self.ingress.send(durable.MAIL_DISPATCH, batch, idempotency_key=key)
                batches.append((batch, key))
        except (DurableCallError, OSError, TimeoutError) as exc:
            log.warning("mail feed could not hand on a batch (%s); retrying it", exc)
            with contextlib.suppress(Exception):
                await asyncio.gather(*(m.nak(delay=RETRY_DELAY_S) for m in msgs))
            return
        await asyncio.gather(*(m.ack() for m in msgs))
        await self._pace(batches)

    async def _pace(self, batches: list[tuple[durable.MailBatch, str]]) -> None:
        """Wait (PACE_S at most) until the batches are sent before reading more: the
        backlog then waits in the stream, not as thousands of invocations Restate runs at
        once beside a draw. Only pacing: the batches are already Restate's, and acked."""
        try:
            async with asyncio.timeout(PACE_S):
                for batch, key in batches:
                    # The same idempotency key: this attaches to the call sent above.
                    await self.ingress.call(durable.MAIL_DISPATCH, batch, idempotency_key=key)
        except (DurableCallError, OSError, TimeoutError) as exc:
            log.info("mail feed goes on before its last batch is out (%r)", exc)

    async def message_for(self, raw: bytes) -> durable.MailIn | None:
        """The message an event calls for, or None (no kind, or no one to send it to)."""
        try:
            envelope = json.loads(raw)
            status: dict[str, Any] = envelope["data"]
            drop_id, user_id = str(status["dropId"]), str(status["userId"])
        except (ValueError, KeyError, TypeError):
            return None
        kind = mail.kind_of(status)
        if kind is None:
            return None
        contact = await ContactStore(self.bus).get(user_id)
        if contact is None or not contact.reachable:
            return None
        if kind == "not_selected" and mail.was_backup(status):
            kind = mail.closing_kind(await self._sold_out(drop_id))
        return durable.MailIn(
            drop_id=drop_id,
            user_id=user_id,
            kind=kind,
            status=status,
            at_ms=int(envelope.get("at") or 0),
        )

    async def _sold_out(self, drop_id: str) -> bool:
        found = await self.bus.get_json(events.DROPS_INDEX_BUCKET, drop_id)
        data = (found or {}).get("data") or {}
        return data.get("inventory") == 0
