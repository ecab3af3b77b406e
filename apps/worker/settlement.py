"""Settlement (service): fans per-participant messages out in chunks.

The draw and the close of a drop touch every participant; sending those messages from
chunk invocations keeps any single journal small however many people entered.
"""

from __future__ import annotations

from typing import Any

import restate

from apps.worker.participant import applyOutcome, participant_key, settle

settlement = restate.Service("Settlement")

FAN_OUT_CHUNK = 500


@settlement.handler()
async def notifyLost(ctx: restate.Context, req: dict[str, Any]) -> None:
    for user_id in req["userIds"]:
        ctx.object_send(
            applyOutcome,
            participant_key(req["dropId"], user_id),
            {"outcome": "loser", "atMs": req["atMs"]},
        )


@settlement.handler()
async def settleChunk(ctx: restate.Context, req: dict[str, Any]) -> None:
    for user_id in req["userIds"]:
        ctx.object_send(settle, participant_key(req["dropId"], user_id), None)


def fan_out(
    ctx: restate.ObjectContext, handler: Any, drop_id: str, user_ids: list[str], now: int
) -> None:
    for start in range(0, len(user_ids), FAN_OUT_CHUNK):
        chunk = user_ids[start : start + FAN_OUT_CHUNK]
        ctx.service_send(handler, {"dropId": drop_id, "userIds": chunk, "atMs": now})
