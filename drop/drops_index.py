"""Reading the drops index: the newest state of every drop, and the drops open now.

The worker writes each drop's state to the NATS key-value bucket `drops_index` (an `Event`
envelope around the state) and publishes it as a `drop.<id>.state` event. The api and sse
both mirror it in memory; this module is the one reading of it they share.
"""

from __future__ import annotations

import json
from typing import Any

ACTIVE_PHASES = ("registration", "purchase")


def state_of(body: bytes | None) -> dict[str, Any] | None:
    """The drop state inside a drops-index value (an `Event` envelope), None if there is none."""
    try:
        envelope = json.loads(body or b"")
    except ValueError:
        return None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    return data if isinstance(data, dict) else None


def version(state: dict[str, Any]) -> int:
    """The state's version; 0 when it carries none."""
    value = state.get("version", 0)
    return value if isinstance(value, int) else 0


def is_newer(candidate: dict[str, Any], known: dict[str, Any] | None) -> bool:
    """Whether `candidate` replaces `known`: only a strictly newer version does.

    The worker bumps a drop's version on every write and the index bucket only ever takes a
    strictly newer one, so an equal version is the same state delivered twice (by the KV
    watch and the stream, or again after a reconnect): keeping the first spares the
    listeners a repeated list. An unversioned state cannot be ordered; the latest arrival
    wins.
    """
    if known is None:
        return True
    new = version(candidate)
    return new == 0 or new > version(known)


def deadline(state: dict[str, Any]) -> float:
    """When the drop's current phase ends (epoch ms): the order of the active list."""
    key = "purchaseEnd" if state.get("phase") == "purchase" else "registrationEnd"
    value = state.get(key) or state.get("registrationEnd")
    return float(value) if isinstance(value, int | float) else float("inf")


class DropStates:
    """The newest known state of each drop, by drop id."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    def get(self, drop_id: str) -> dict[str, Any] | None:
        return self._states.get(drop_id)

    def remember(self, drop_id: str, state: dict[str, Any]) -> bool:
        """Keep `state` if it is newer than the one known (see `is_newer`); True when kept."""
        if not is_newer(state, self._states.get(drop_id)):
            return False
        self._states[drop_id] = state
        return True

    def active(self) -> list[dict[str, Any]]:
        """The drops in registration or purchase, soonest deadline first, each with its id."""
        drops = [
            {**state, "dropId": drop_id}
            for drop_id, state in self._states.items()
            if state.get("phase") in ACTIVE_PHASES
        ]
        drops.sort(key=deadline)
        return drops
