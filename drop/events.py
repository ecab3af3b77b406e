"""NATS subjects, stream layout and the event envelope every publisher uses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DROPS_STREAM = "DROPS"
QUEUE_STREAM = "QUEUE"
SYSTEM_STREAM = "SYSTEM"

DROPS_INDEX_BUCKET = "drops_index"
POW_BUCKET = "pow_challenges"
RATE_LIMIT_BUCKET = "rate_limits"
QUEUE_TOKENS_BUCKET = "queue_tokens"
QUEUE_BEHAVIOR_BUCKET = "queue_behavior"
IDEMPOTENCY_BUCKET = "idempotency"
LOYALTY_BUCKET = "loyalty"
ROLLOVER_BUCKET = "rollover"
# Object store of published lottery proofs (name = dropId): written once by the draw,
# served by the API from memory.
PROOFS_STORE = "proofs"
# Who holds each userId (hash of its claim secret); never expires.
USER_CLAIMS_BUCKET = "user_claims"
# Each user's live sessions (one record per userId) and the admin console's sessions.
USER_SESSIONS_BUCKET = "user_sessions"
ADMIN_SESSIONS_BUCKET = "admin_sessions"
# Each user's optional email, `{"email": ..., "unsubscribed": bool}` by userId: the only
# place an address is kept (never in a drop's state, its events, proofs, logs or metrics).
CONTACTS_BUCKET = "contacts"
# Winners' sign-in links already opened (key = the link's nonce), so each opens once on
# any api replica; kept past the longest purchase window.
MAIL_LINKS_BUCKET = "mail_links"
# Which `MailFanout` invocation sends each message (key = `{dropId}.{userId}.{kind}`,
# value = its invocation id), so one message is sent by one batch only; kept as long as
# the events that call for mail.
MAIL_SENT_BUCKET = "mail_sent"
# Webhook endpoints (key = endpoint id, value holds the signing secret) and each delivery's
# record for the console (key = `{endpointId}.{deliveryId}`).
WEBHOOKS_BUCKET = "webhooks"
WEBHOOK_DELIVERIES_BUCKET = "webhook_deliveries"


def drop_state_subject(drop_id: str) -> str:
    return f"drop.{drop_id}.state"


def drop_user_subject(drop_id: str, user_id: str) -> str:
    return f"drop.{drop_id}.user.{user_id}"


def queue_subject(drop_id: str, token: str) -> str:
    return f"queue.{drop_id}.{token}"


def system_subject(name: str) -> str:
    return f"system.{name}"


class Event(BaseModel):
    """The envelope of every published event.

    `id` is stable across handler replays (it doubles as the JetStream `Nats-Msg-Id`), so
    consumers can drop duplicates; `type` names what happened in the past tense
    (`registered`, `lottery_drawn`, ...); `data` is the payload clients receive.
    """

    model_config = ConfigDict(populate_by_name=True)

    id: str
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: int = 0
