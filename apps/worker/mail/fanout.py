"""MailFanout: the messages of one mail feed batch, sent by one invocation.

A Restate invocation costs restate-server and the SDK more than composing and sending a
message does, so the feed's batch is one `dispatch` invocation (idempotency-keyed by its
messages' keys) rather than one `Mailer` invocation per message. It sends its messages in
groups of GROUP, each group one journaled step (IN_FLIGHT of them at once) that sends them
concurrently through the SMTP pool (under the process's gate) and records each one's
outcome, never the address: a crash repeats at most the groups under way, with the same
Message-IDs.

What the server did not take yet (a 4xx, a dropped connection) is handed to `retry`, a
delayed invocation of its own, so the batch ends (and the feed, which waits for it, reads
on) while those wait: rounds of gaps doubling from a second to ten minutes for about a
day (`mail.retry_delay`), each resending only what is still not taken; after that, each
message left is a step of its own, retried and then paused by the invocation's policy, as
the Mailer's were. A refusal for good (5xx) is final.

One send per (drop, user, kind): the idempotency key makes a batch handed on twice one
invocation, but the same message can also come in a different batch (the feed's batch
delivered again after a crash and regrouped with newer events, or a person's status
published again, e.g. registering twice). Each message is claimed before it is sent in
the `mail_sent` bucket under its key by the dispatch's invocation id (drop/adapters/
sent_mail.py): one `create` per message, in the step, under the same gate as the address
read. Only the claimant sends; the same claimant again (its step retried, or its `retry`)
may send again, as a repeat under the same Message-ID.

`Mailer.send` (one message per invocation, deduplicated by its object's state) stays
registered for calls made before this change; the feed no longer calls it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import restate
from restate import RestateDurableFuture

from apps.worker import calls
from apps.worker.mail.service import STEP_RETRIES, deliver_now, gate
from apps.worker.mail.smtp import Unsent
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import durable
from drop.adapters.sent_mail import SentMail
from drop.domain import mail

log = logging.getLogger("worker.mail")

mail_fanout = restate.Service("MailFanout", invocation_retry_policy=PAUSE_WHEN_STUCK)

# Messages per journaled step, and steps under way at once: at most GROUP * IN_FLIGHT are
# sent again after a crash. Constants, since a replay must cut the batch into the same
# steps. Two steps overlap so the SMTP connections stay busy while a step waits for its
# slowest message and for its journal entry.
GROUP = 32
IN_FLIGHT = 2
# A message's outcome when the server did not take it yet (retried), or when another
# batch's invocation has claimed it.
NOT_YET = "not yet"
TAKEN = "claimed by another batch"
OUTCOMES: restate.RunOptions[list[str]] = restate.RunOptions(
    initial_retry_interval=STEP_RETRIES.initial_retry_interval,
    retry_interval_factor=STEP_RETRIES.retry_interval_factor,
    max_retry_interval=STEP_RETRIES.max_retry_interval,
)


@handler(mail_fanout)
async def dispatch(ctx: restate.Context, req: durable.MailBatch) -> None:
    owner = ctx.request().id
    unsent = await _send_in_groups(ctx, "deliver", req.messages, owner)
    _retry_later(ctx, unsent, owner, 1)


@handler(mail_fanout)
async def retry(ctx: restate.Context, req: durable.MailRetry) -> None:
    if req.round <= mail.retry_rounds():
        unsent = await _send_in_groups(ctx, f"retry {req.round}", req.messages, req.owner)
        _retry_later(ctx, unsent, req.owner, req.round + 1)
        return
    # About a day of refusals: each message left is retried until it goes, and the
    # invocation is paused (PAUSE_WHEN_STUCK) for an operator to resume once it can.
    for n, message in enumerate(req.messages):
        await ctx.run_typed(f"deliver at last {n}", _deliver_or_raise, STEP_RETRIES, message)


def _retry_later(
    ctx: restate.Context, unsent: list[durable.MailIn], owner: str, round_: int
) -> None:
    if unsent:
        again = durable.MailRetry(messages=unsent, owner=owner, round=round_)
        calls.send(ctx, durable.MAIL_RETRY, again, delay=mail.retry_delay(round_))


async def _send_in_groups(
    ctx: restate.Context, step: str, messages: list[durable.MailIn], owner: str
) -> list[durable.MailIn]:
    """Send `messages` a group per journaled step; those the server did not take yet."""
    unsent: list[durable.MailIn] = []
    under_way: deque[tuple[list[durable.MailIn], RestateDurableFuture[list[str]]]] = deque()
    for first in range(0, len(messages), GROUP):
        group = messages[first : first + GROUP]
        step_of = ctx.run_typed(f"{step} {first}", deliver_group, OUTCOMES, group, owner)
        under_way.append((group, step_of))
        if len(under_way) == IN_FLIGHT:
            unsent += await _not_taken(*under_way.popleft())
    while under_way:
        unsent += await _not_taken(*under_way.popleft())
    return unsent


async def _not_taken(
    group: list[durable.MailIn], step_of: RestateDurableFuture[list[str]]
) -> list[durable.MailIn]:
    outcomes = await step_of
    return [m for m, outcome in zip(group, outcomes, strict=True) if outcome == NOT_YET]


async def deliver_group(messages: list[durable.MailIn], owner: str) -> list[str]:
    """Each message's outcome, sent concurrently: a failure of one leaves it NOT_YET and
    takes nothing from the others, already sent."""
    return list(await asyncio.gather(*(_deliver_once(m, owner) for m in messages)))


async def _deliver_once(message: durable.MailIn, owner: str) -> str:
    rt = current()
    async with gate(rt.mail.smtp_connections):
        try:
            mine = await SentMail(rt.bus).claim(
                message.drop_id, message.user_id, message.kind, owner
            )
            return await deliver_now(message) if mine else TAKEN
        except Unsent:
            return NOT_YET  # deliver_now has said why
        except Exception as exc:
            # NATS briefly away (the claim, the address), or anything else: retried like a
            # refusal, never failing the messages of the group already sent.
            # The type only: an error's text may quote the address.
            cause = type(exc).__name__
            log.warning("mail %s to %s not sent yet (%s)", message.kind, message.user_id, cause)
            return NOT_YET


async def _deliver_or_raise(message: durable.MailIn) -> str:
    async with gate(current().mail.smtp_connections):
        return await deliver_now(message)
