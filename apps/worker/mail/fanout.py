"""MailFanout: starts the sends of one mail feed batch, each a Mailer send keyed and
idempotency-keyed by its message's key, so a batch sent twice starts nothing twice."""

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
    for message in req.messages:
        key = mail.mail_key(message.drop_id, message.user_id, message.kind)
        ctx.generic_send(
            send.service, send.handler, send.encode(message), key=key, idempotency_key=key
        )
