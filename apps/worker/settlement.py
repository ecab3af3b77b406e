"""Settlement (service): outcomes and credits for the crowd, a chunk of people at a time.

The draw and the close of a drop touch every participant. The people who were not drawn
need no object of their own: a chunk publishes all their statuses in one journaled step
(rebuilt from their entry rows), records their participation for loyalty, and credits
rollover only to those who paid for entries.
"""

from __future__ import annotations

from datetime import timedelta

import restate

from apps.worker import calls, effects
from apps.worker.drops.state import BOUGHT, Row, user_from_row
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import durable
from drop.contracts import UserState
from drop.domain import rollover
from drop.durable import PeopleChunk

settlement = restate.Service("Settlement", invocation_retry_policy=PAUSE_WHEN_STUCK)

LOST_VERSION = 2
SETTLED_VERSION = 3


async def _publish(ctx: restate.Context, step: str, users: list[UserState], reason: str) -> None:
    if not users:
        return

    async def action() -> None:
        await effects.publish_users(current().bus, users, reason)

    await ctx.run_typed(step, action)


@handler(settlement)
async def publishOutcomes(ctx: restate.Context, req: PeopleChunk) -> None:
    """Tell a chunk of people who were not drawn that they lost."""
    drop_id = req.drop_id
    users = [
        user_from_row(drop_id, position, Row.load(row), status="loser", version=LOST_VERSION)
        for position, row in req.people
    ]
    await _publish(ctx, "publish outcomes", users, "loser")
    # Loyalty is recorded for everyone, but not all at the draw's moment: chunk n's records
    # start n seconds later, so a crowd's bookkeeping never crowds out the purchases.
    later = timedelta(seconds=req.chunk)
    record = durable.ParticipationIn(drop_id=drop_id, at_ms=req.at_ms)
    for user in users:
        calls.send(ctx, durable.LOYALTY_RECORD, record, key=user.user_id, delay=later)


@handler(settlement)
async def settleChunk(ctx: restate.Context, req: PeopleChunk) -> None:
    """The drop completed: drawn people settle in their own objects; the others who paid
    for entries get them back as rollover credit."""
    drop_id = req.drop_id
    owed: list[UserState] = []
    for position, row in req.people:
        flag = int(str(row[-1]))
        if flag:
            told = durable.SettleIn(bought=flag == BOUGHT)
            calls.send(ctx, durable.PARTICIPANT_SETTLE, told, key=f"{drop_id}:{row[0]}")
            continue
        user = user_from_row(drop_id, position, Row.load(row[:-1]), status="loser")
        if rollover.credits_for_loser(user.paid_entries) > 0:
            owed.append(user)
    credits = [
        calls.start(
            ctx,
            durable.ROLLOVER_ADD,
            durable.CreditIn(drop_id=drop_id, credits=rollover.credits_for_loser(u.paid_entries)),
            key=u.user_id,
        )
        for u in owed
    ]
    settled = []
    for user, future in zip(owed, credits, strict=True):
        answer = await calls.answer(future)
        update = {
            "rollover_balance": answer.balance,
            "rollover_earned": rollover.credits_for_loser(user.paid_entries),
            "version": SETTLED_VERSION,
        }
        settled.append(user.model_copy(update=update))
    await _publish(ctx, "publish settled", settled, "settled")
