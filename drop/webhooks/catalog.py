"""The webhook events, and how the drop's published events turn into them.

The worker publishes every drop snapshot (`drop.{id}.state`) and every user's status
(`drop.{id}.user.{uid}`). Each webhook event has a key naming the one thing that happened
(a drop closing, a user winning); many published events may map to the same key (every
snapshot after the draw says the drop was drawn), and the delivery's webhook-id is made
from that key, so each endpoint hears each thing once. No payload carries anything but
ids, counts, times and links: never an email address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES = (
    "drop.created",
    "drop.registration_closed",
    "drop.drawn",
    "winner.selected",
    "backup.promoted",
    "winner.lapsed",
    "order.completed",
    "drop.completed",
)

_CLOSED_PHASES = ("lottery", "purchase", "completed")
_DRAWN_PHASES = ("purchase", "completed")


@dataclass(frozen=True)
class Happened:
    """One webhook event: `key` names it across every published copy; `at` (ms) is when
    the published event that revealed it was made."""

    key: str
    type: str
    data: dict[str, Any]
    at: int

    def body(self) -> dict[str, Any]:
        """The payload sent: the Standard Webhooks envelope {type, timestamp, data}."""
        when = datetime.fromtimestamp(self.at / 1000, UTC).isoformat(timespec="milliseconds")
        return {"type": self.type, "timestamp": when.replace("+00:00", "Z"), "data": self.data}


def delivery_id(endpoint_id: str, key: str) -> str:
    """The webhook-id of `key` for one endpoint: the same on every retry and replay."""
    digest = hashlib.sha256(f"{endpoint_id}|{key}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


def from_event(subject: str, envelope: dict[str, Any], public_url: str) -> list[Happened]:
    """The webhook events a published event reveals (often none)."""
    parts = subject.split(".")
    data = envelope.get("data") or {}
    at = int(envelope.get("at") or 0)
    if len(parts) == 3 and parts[2] == "state":
        return _from_snapshot(data, at, public_url.rstrip("/"))
    if len(parts) == 4 and parts[2] == "user":
        found = _from_status(data, at)
        return [found] if found is not None else []
    return []


def _from_snapshot(snap: dict[str, Any], at: int, site: str) -> list[Happened]:
    drop_id, phase = str(snap.get("dropId", "")), snap.get("phase")
    found: list[Happened] = []

    def add(kind: str, data: dict[str, Any]) -> None:
        found.append(Happened(f"{drop_id}|{kind}", kind, {"dropId": drop_id, **data}, at))

    # Only the snapshot of the creation itself has nobody in yet.
    if phase == "registration" and not snap.get("participantCount"):
        add(
            "drop.created",
            {
                "productName": snap.get("productName", ""),
                "inventory": snap.get("initialInventory"),
                "registrationStart": snap.get("registrationStart"),
                "registrationEnd": snap.get("registrationEnd"),
                "purchaseWindow": snap.get("purchaseWindow"),
                "lotteryCommitment": snap.get("lotteryCommitment"),
                "url": f"{site}/drop/{drop_id}",
            },
        )
    if phase in _CLOSED_PHASES:
        add(
            "drop.registration_closed",
            {
                "participantCount": snap.get("participantCount"),
                "totalTickets": snap.get("totalTickets"),
            },
        )
    if phase in _DRAWN_PHASES:
        add(
            "drop.drawn",
            {
                "winnerCount": snap.get("winnerCount"),
                "backupWinnerCount": snap.get("backupWinnerCount"),
                "purchaseEnd": snap.get("purchaseEnd"),
                "proofUrl": f"{site}/api/drop/{drop_id}/lottery-proof",
            },
        )
    if phase == "completed":
        sold = int(snap.get("initialInventory") or 0) - int(snap.get("inventory") or 0)
        add("drop.completed", {"sold": sold, "inventory": snap.get("inventory")})
    return found


def _from_status(user: dict[str, Any], at: int) -> Happened | None:
    drop_id, user_id, status = user.get("dropId"), user.get("userId"), user.get("status")
    if status == "winner":
        kind = "backup.promoted" if user.get("promoted") else "winner.selected"
        data: dict[str, Any] = {"deadline": user.get("deadline")}
    elif status == "expired":
        kind, data = "winner.lapsed", {}
    elif status == "purchased":
        kind, data = "order.completed", {}
    else:
        return None
    body = {"dropId": drop_id, "userId": user_id, **data}
    return Happened(f"{drop_id}|{kind}|{user_id}", kind, body, at)
