"""Who sends each message: the first `MailFanout` invocation to claim its
(drop, user, kind) in the NATS key-value bucket `mail_sent` sends it, no other.

The claim names the invocation, not the outcome: the invocation that made it may claim
again (its step retried after a crash, the message maybe sent already: the copy has the
same Message-ID), and any other finds the message taken. The owner is durable, so a taken
message is sent (or found to have no one to go to) without the second batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.errors import KeyWrongLastSequenceError

from drop import events
from drop.adapters.nats_bus import Bus


def claim_key(drop_id: str, user_id: str, kind: str) -> str:
    # Ids hold only [A-Za-z0-9_-]: dots keep the key a valid one for NATS.
    return f"{drop_id}.{user_id}.{kind}"


@dataclass
class SentMail:
    bus: Bus

    async def claim(self, drop_id: str, user_id: str, kind: str, owner: str) -> bool:
        """Whether `owner` (an invocation id) is the one to send this message."""
        kv = await self.bus.kv(events.MAIL_SENT_BUCKET)
        key = claim_key(drop_id, user_id, kind)
        try:
            await kv.create(key, owner.encode())
        except KeyWrongLastSequenceError:
            entry = await kv.get(key)
            return entry.value == owner.encode()
        return True
