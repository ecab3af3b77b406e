"""Drops whose durable object is stuck behind a failing or paused invocation.

Calls on a drop run one at a time, so while one of them is retried or paused every later
call waits behind it until the ingress timeout. When a call on a drop times out, the
api asks Restate whether an invocation is stuck there; if so, the caller gets 503
`drop_stalled` with the reason instead of a bare 504, and for the next few seconds every
call on that drop is answered the same at once (with Retry-After) instead of piling up.
The console's alarms show the same invocation (`apps.api.alarms`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apps.api.errors import ApiError
from drop.adapters import restate_admin
from drop.adapters.restate_ingress import DurableCallError

log = logging.getLogger("api.stalls")
T = TypeVar("T")

HOLD_S = 5


@dataclass
class Stalls:
    admin_url: str
    reasons: dict[str, tuple[float, str]] = field(default_factory=dict)

    def refuse_if_stalled(self, drop_id: str) -> None:
        until, reason = self.reasons.get(drop_id, (0.0, ""))
        if time.monotonic() < until:
            raise _stalled(reason)
        self.reasons.pop(drop_id, None)

    async def call(self, drop_id: str, durable: Coroutine[Any, Any, T]) -> T:
        """`durable` (a call on the drop), answered at once with 503 while it is stalled."""
        try:
            self.refuse_if_stalled(drop_id)
        except ApiError:
            durable.close()  # never sent
            raise
        try:
            return await durable
        except DurableCallError as exc:
            if exc.status != 504:
                raise
            try:
                stuck = await restate_admin.stuck_on(self.admin_url, "Drop", drop_id)
            except restate_admin.AdminUnavailableError:
                raise exc from None
            if not stuck:
                raise
            first = stuck[0]
            reason = (
                f"an earlier operation on this drop ({first['target']}) is {first['status']} "
                f"after {first.get('retry_count')} attempts; operators are alerted"
            )
            log.error("drop %s stalled: %s: %s", drop_id, reason, first.get("last_failure"))
            self.reasons[drop_id] = (time.monotonic() + HOLD_S, reason)
            raise _stalled(reason) from exc


def _stalled(reason: str) -> ApiError:
    return ApiError(503, "drop_stalled", reason, headers={"Retry-After": str(HOLD_S)})
