"""What the Mailer takes and answers, and the Diagnostics echo."""

from __future__ import annotations

from pydantic import Field, JsonValue

from drop.durable.base import Durable


class MailIn(Durable):
    """One message to send: to whom (by userId; the address is looked up as it is sent,
    never carried here), what kind, and the status and event time it tells of."""

    drop_id: str
    user_id: str
    kind: str
    status: dict[str, JsonValue] = Field(default_factory=dict)
    at_ms: int = 0


class MailBatch(Durable):
    """Messages sent by one invocation (`MailFanout.dispatch`)."""

    messages: list[MailIn]


class MailRetry(Durable):
    """A batch's messages the SMTP server did not take yet (`MailFanout.retry`): sent
    again under the claims of `owner`, the dispatch that took them; `round` counts from 1."""

    messages: list[MailIn]
    owner: str
    round: int = 1


class MailOut(Durable):
    # "sent <Message-ID>", or why nothing was sent ("no address", "unsubscribed", ...).
    outcome: str


class Echoed(Durable):
    id: str
    seq: int
