"""Server-Sent Event frames, encoded once and shared by every client that receives them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def frame(event: str, data: Mapping[str, Any], event_id: int) -> bytes:
    """`id:`, `event:` and one JSON `data:` line (JSON never contains a raw newline).

    The payload repeats the event name as `type` (docs/contract.md, Streams): clients of the
    original service read it from there and ignore `event:`.
    """
    body = json.dumps({**data, "type": event}, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


def retry(ms: int) -> bytes:
    """A block with only `retry:` sets the reconnection delay and dispatches nothing."""
    return f"retry: {ms}\n\n".encode()
