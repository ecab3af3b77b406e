"""People's optional email addresses in the NATS key-value bucket `contacts` (no TTL).

One record per userId, `{"email": ..., "unsubscribed": bool}`. An unsubscribe holds for
every later drop: registering again with the same address keeps it; only a different
address (given by the holder of the userId) starts over subscribed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from nats.js.errors import KeyWrongLastSequenceError

from drop import events
from drop.adapters.nats_bus import Bus


@dataclass(frozen=True)
class Contact:
    email: str
    unsubscribed: bool = False

    @property
    def reachable(self) -> bool:
        return bool(self.email) and not self.unsubscribed


def address_tag(email: str) -> str:
    """A short digest naming an address in an unsubscribe link, so a link sent to an old
    address cannot unsubscribe the one that replaced it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def _decode(raw: bytes) -> Contact | None:
    try:
        saved = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("email"), str):
        return None
    return Contact(saved["email"], bool(saved.get("unsubscribed", False)))


def _encode(contact: Contact) -> bytes:
    return json.dumps({"email": contact.email, "unsubscribed": contact.unsubscribed}).encode()


@dataclass
class ContactStore:
    bus: Bus

    async def get(self, user_id: str) -> Contact | None:
        raw = await self.bus.get_json(events.CONTACTS_BUCKET, user_id)
        if not isinstance(raw, dict):
            return None
        return _decode(json.dumps(raw).encode())

    async def remember(self, user_id: str, email: str) -> None:
        """Keep `email` for `user_id`; the same address again changes nothing."""

        def replaces(stored: bytes) -> bool:
            found = _decode(stored)
            return found is None or found.email.lower() != email.lower()

        await self.bus.put_if_newer(
            events.CONTACTS_BUCKET, user_id, _encode(Contact(email)), replaces
        )

    async def unsubscribe(self, user_id: str, tag: str) -> bool:
        """Stop all mail to `user_id` if `tag` names the address on record; whether it
        names it (an unsubscribe already made counts)."""
        current = await self.get(user_id)
        if current is None or address_tag(current.email) != tag:
            return False
        if current.unsubscribed:
            return True

        def replaces(stored: bytes) -> bool:
            found = _decode(stored)
            return found is not None and address_tag(found.email) == tag

        done = Contact(current.email, unsubscribed=True)
        return await self.bus.put_if_newer(events.CONTACTS_BUCKET, user_id, _encode(done), replaces)


async def use_once(bus: Bus, nonce: str) -> bool:
    """Record the single use of a link; False when it was used before (on any replica)."""
    kv = await bus.kv(events.MAIL_LINKS_BUCKET)
    try:
        await kv.create(nonce, b"1")
    except KeyWrongLastSequenceError:
        return False
    return True
