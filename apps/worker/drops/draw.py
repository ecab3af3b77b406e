"""The draw at registrationEnd, and the end of the drop.

Outcomes reach people in order of urgency: winners and backups first (a winner's window
starts when they are told), through their Participant objects; then everyone else in
chunks, each chunk publishing hundreds of statuses in one journaled step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import restate
from pydantic import JsonValue

from apps.worker import calls, effects, metrics
from apps.worker.drops import randomness, state, watch
from apps.worker.drops.object import drop_object
from apps.worker.runtime import current
from apps.worker.typed import handler
from drop import durable
from drop.contracts import DropConfig, UserState
from drop.domain import lottery, receipts, sales
from drop.domain.drop_rules import Phase
from drop.durable import DrawIn, DrawSummary, OutcomeIn, PeopleChunk

OUTCOME_CHUNK = 500
# On a drop with sizes: each backup's ranked list, so a lapse promotes one who ranked it.
RANKINGS = "backupRankings"


@handler(drop_object)
async def runLottery(ctx: restate.ObjectContext, req: DrawIn) -> DrawSummary:
    """Draw winners and backups (once); a second call returns the first draw's summary.

    Only after registrationEnd: an operator who knows the secret could otherwise draw at
    the moment the result suits it. The timer is scheduled for registrationEnd; should it
    fire a moment early by this worker's clock, it waits for the close instead. Then it waits
    for the beacon round committed at creation (see `randomness.fetch_round`).
    """
    config = await state.config_of(ctx)
    core = await state.core_of(ctx)
    if core["phase"] != Phase.REGISTRATION.value:
        return summary(core)
    now = await effects.now_ms(ctx, "draw time")
    if now < config.registration_end:
        if req.trigger != "timer":
            raise effects.fail(
                "registration_open",
                f"registration for {ctx.key()} is open until {config.registration_end} "
                f"(ms since the epoch); the draw runs only once it has closed",
                409,
            )
        await ctx.sleep(state.later(config.registration_end, now))
        now = await effects.now_ms(ctx, "draw time after close")
    committed = core.get("beacon")
    # Drops created before the beacon existed are drawn as they were promised (v1).
    record = await randomness.fetch_round(ctx, committed, now) if committed else None
    if record is not None:
        now = await effects.now_ms(ctx, "draw time after beacon")
    rows = await state.all_rows(ctx, core["participantCount"])
    ledger = await watch.ledger_of(ctx, config, core)
    receipt_key = await _receipt_key(ctx)
    proof = lottery.run_draw(
        config.drop_id,
        core["secret"],
        (lottery.Participant(r.user_id, r.effective_tickets, r.ranking) for r in rows),
        config.inventory,
        config.backup_multiplier,
        now,
        registration_start=config.registration_start,
        registration_end=config.registration_end,
        receipt_key=receipt_key,
        beacon=record,
        variants=config.sizes(),
    )
    wire = proof.to_wire()
    sizes = dict(proof.allocation)
    window_ms = config.purchase_window * 1000
    # Promoted backups get a full window of their own; the drop ends after two windows.
    purchase_end = now + 2 * window_ms
    core.update(
        {
            "lotteryAt": now,
            "purchaseEnd": purchase_end,
            "winnerCount": len(proof.winners),
            "backupWinnerCount": len(proof.backups),
            "phase": (Phase.PURCHASE if proof.winners else Phase.COMPLETED).value,
        }
    )
    by_user = {r.user_id: (i + 1, r) for i, r in enumerate(rows)}
    deadline = min(now + window_ms, purchase_end)
    # Published before anything is written: both are the same on a replay (the draw is a
    # function of journaled inputs), and winners hear before anyone else is told.
    await effects.store_proof(ctx, config.drop_id, wire)
    await _announce_drawn(ctx, proof.winners, proof.backups, by_user, deadline, sizes)
    # The commit point: from here on only writes and sends, then the snapshot's publish.
    watch.check(ctx, config, core, ledger, "draw", now)
    ctx.set("proof", wire)
    ctx.set("backups", list(proof.backups))
    ctx.set("drawn", [*proof.winners, *proof.backups])
    if config.variants is not None:
        ctx.set(RANKINGS, {u: list(by_user[u][1].ranking) for u in proof.backups})
        state.count_drawn(core, proof.winners, proof.backups, sizes)
    for user_id in proof.winners:
        variant = sizes.get(user_id)
        make_winner(
            ctx, user_id, deadline, now, promoted=False, row=by_user[user_id], variant=variant
        )
    for i, user_id in enumerate(proof.backups, start=1):
        outcome = OutcomeIn(
            outcome="backup_winner", backup_position=i, at_ms=now, variant=sizes.get(user_id)
        )
        _tell(ctx, user_id, outcome, by_user[user_id])
    drawn = set(proof.winners) | set(proof.backups)
    not_drawn = [(p, r.wire()) for p, r in by_user.values() if r.user_id not in drawn]
    _fan_out(ctx, durable.SETTLE_OUTCOMES, not_drawn, now)
    if proof.winners:
        close_at = state.later(purchase_end, now)
        calls.send(ctx, durable.DROP_CLOSE_WINDOW, None, key=ctx.key(), delay=close_at)
    else:
        _fan_out(ctx, durable.SETTLE_CHUNK, _flagged(list(by_user.values()), drawn), now)
    await state.commit(ctx, config, core)
    metrics.count(metrics.DRAWS, config.drop_id)
    metrics.count(metrics.WINNERS, config.drop_id, len(proof.winners))
    return summary(core)


async def _receipt_key(ctx: restate.ObjectContext) -> receipts.ReceiptKey:
    """The public key of entry receipts, named in the proof: process state, so journaled."""

    def key() -> str:
        return receipts.signer_for(current().secrets.receipt_signing_key).key.public_key

    return receipts.ReceiptKey(await ctx.run_typed("receipt key", key))


async def _announce_drawn(
    ctx: restate.ObjectContext,
    winners: tuple[str, ...],
    backups: tuple[str, ...],
    by_user: dict[str, tuple[int, state.Row]],
    deadline: int,
    sizes: dict[str, str],
) -> None:
    """Winners and backups hear first, in one step before anyone else is told (a winner's
    window runs from now). Their objects publish the same versions again as they start;
    the stable event ids make those duplicates vanish."""
    drop_id = ctx.key()

    def drawn(user_id: str, **fields: Any) -> UserState:
        return state.user_from_row(
            drop_id, *by_user[user_id], version=2, variant=sizes.get(user_id), **fields
        )

    told = [drawn(u, status="winner", deadline=deadline) for u in winners]
    waiting = [
        drawn(u, status="backup_winner", backup_position=i) for i, u in enumerate(backups, start=1)
    ]

    async def action() -> None:
        bus = current().bus
        await effects.publish_users(bus, told, "winner")
        await effects.publish_users(bus, waiting, "backup_winner")

    await ctx.run_typed("announce drawn", action)


def _tell(
    ctx: restate.ObjectContext, user_id: str, outcome: OutcomeIn, row: tuple[int, state.Row]
) -> None:
    """An outcome for a drawn user, with their registration so their object can start."""
    position, entry = row
    registered = state.user_from_row(ctx.key(), position, entry)
    told = outcome.model_copy(update={"registered": registered})
    calls.send(ctx, durable.PARTICIPANT_OUTCOME, told, key=f"{ctx.key()}:{user_id}")


def make_winner(
    ctx: restate.ObjectContext,
    user_id: str,
    deadline: int,
    now: int,
    *,
    promoted: bool,
    row: tuple[int, state.Row] | None = None,
    variant: str | None = None,
) -> None:
    record: dict[str, object] = {"deadline": deadline, "promoted": promoted, "state": "active"}
    if variant is not None:
        record["variant"] = variant
    ctx.set(f"winner:{user_id}", record)
    calls.send(
        ctx,
        durable.DROP_CHECK_EXPIRY,
        durable.ForUser(user_id=user_id),
        key=ctx.key(),
        delay=state.later(deadline, now),
    )
    outcome = OutcomeIn(
        outcome="winner", deadline=deadline, promoted=promoted, at_ms=now, variant=variant
    )
    if row is None:
        calls.send(ctx, durable.PARTICIPANT_OUTCOME, outcome, key=f"{ctx.key()}:{user_id}")
    else:
        _tell(ctx, user_id, outcome, row)


def _flagged(
    people: list[tuple[int, state.Row]],
    drawn: set[str],
    bought: frozenset[str] | set[str] = frozenset(),
) -> list[tuple[int, list[JsonValue]]]:
    """Each person's row with a last flag: drawn (winner or backup, settled by their own
    object; `state.BOUGHT` if they paid) or not (0: settled by the chunk itself)."""

    def flag(user_id: str) -> int:
        if user_id in bought:
            return state.BOUGHT
        return state.DRAWN if user_id in drawn else 0

    return [(position, [*row.wire(), flag(row.user_id)]) for position, row in people]


def _fan_out(
    ctx: restate.ObjectContext,
    target: durable.Target[PeopleChunk, None],
    people: list[tuple[int, list[JsonValue]]],
    now: int,
) -> None:
    for n, start in enumerate(range(0, len(people), OUTCOME_CHUNK)):
        chunk = people[start : start + OUTCOME_CHUNK]
        calls.send(ctx, target, PeopleChunk(drop_id=ctx.key(), people=chunk, at_ms=now, chunk=n))


def summary(core: state.Core) -> DrawSummary:
    return DrawSummary(
        phase=core["phase"],
        winner_count=core["winnerCount"],
        backup_winner_count=core["backupWinnerCount"],
        purchase_end=core.get("purchaseEnd"),
    )


@dataclass(frozen=True)
class Closing:
    """What ending a drop needs to read: every entry row and who was drawn."""

    rows: list[state.Row]
    drawn: frozenset[str]


async def read_closing(ctx: restate.ObjectContext, core: state.Core) -> Closing:
    rows = await state.all_rows(ctx, core["participantCount"])
    drawn = await ctx.get("drawn", type_hint=list) or []
    return Closing(rows, frozenset(str(u) for u in drawn))


def complete(
    ctx: restate.ObjectContext,
    config: DropConfig,
    core: state.Core,
    closing: Closing,
    ledger: sales.Ledger,
    now: int,
) -> None:
    """End the drop: unbought winners lapse, everyone else is settled (rollover credits).
    Writes and sends only: the caller has read everything and commits `core` after."""
    core["phase"] = Phase.COMPLETED.value
    core["completedAt"] = now
    watch.check(ctx, config, core, ledger, "completed", now)
    # Said again at settling: a buyer's own `purchased` message travels a shorter path than
    # the settle (Drop → Settlement → Participant) and may arrive after it.
    bought = frozenset(order[1] for order in ledger)
    people = _flagged(list(enumerate(closing.rows, start=1)), set(closing.drawn), bought)
    _fan_out(ctx, durable.SETTLE_CHUNK, people, now)


@handler(drop_object)
async def closePurchaseWindow(ctx: restate.ObjectContext) -> DrawSummary:
    config = await state.config_of(ctx)
    core = await state.core_of(ctx)
    if core["phase"] == Phase.PURCHASE.value:
        closing = await read_closing(ctx, core)
        ledger = await watch.ledger_of(ctx, config, core)
        now = await effects.now_ms(ctx)
        complete(ctx, config, core, closing, ledger, now)
        await state.commit(ctx, config, core)
    return summary(core)
