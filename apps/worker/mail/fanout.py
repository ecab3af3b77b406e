"""MailFanout: the sends of one mail feed batch, each a Mailer send keyed and
idempotency-keyed by its message's key, so a batch sent twice starts nothing twice.

The batch waits for its sends, so the feed can wait for the batch (`feed.PACE_S`): mail
then goes to Restate a batch at a time instead of a draw's twenty thousand messages at
once, which Restate would otherwise start together, beside the draw."""

from __future__ import annotations

import restate

from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.typed import handler
from drop import durable
from drop.domain import mail

mail_fanout = restate.Service("MailFanout", invocation_retry_policy=PAUSE_WHEN_STUCK)


@handler(mail_fanout)
async def dispatch(ctx: restate.Context, req: durable.MailBatch) -> None:
    send = durable.MAIL_SEND
    sends = []
    for message in req.messages:
        key = mail.mail_key(message.drop_id, message.user_id, message.kind)
        sends.append(
            ctx.generic_call(
                send.service, send.handler, send.encode(message), key=key, idempotency_key=key
            )
        )
    await restate.gather(*sends)
