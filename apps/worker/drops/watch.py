"""The drop's invariant watch: after every purchase and at every phase change.

The sales ledger (`orders`) is written with each order, so the check reads one key and
the counters, never every user's record. A broken invariant is never silent: the drop
stops selling (`core.halted`, refused with 409 `sales_halted`), the alarm is kept under
`alarm` for the console, `drop_invariant_violations_total` counts it, and the log says it
in capitals.
"""

from __future__ import annotations

import logging

import restate
from restate.logging import RestateLoggingFilter

from apps.worker import effects, metrics
from apps.worker.drops import state
from drop.contracts import DropConfig
from drop.domain import sales

LEDGER = "orders"
ALARM = "alarm"

log = logging.getLogger("worker.watch")
log.addFilter(RestateLoggingFilter())


async def ledger_of(
    ctx: restate.ObjectContext, config: DropConfig, core: state.Core
) -> sales.Ledger:
    raw = await ctx.get(LEDGER, type_hint=list)
    if raw is not None:
        return [[str(v) for v in o[:3]] for o in raw]
    return sales.legacy_ledger(ctx.key(), config.inventory - int(core["inventory"]))


def refuse_if_halted(core: state.Core) -> None:
    if core.get("halted"):
        raise effects.fail("sales_halted", f"sales on this drop are halted: {core['halted']}", 409)


def check(
    ctx: restate.ObjectContext,
    config: DropConfig,
    core: state.Core,
    ledger: sales.Ledger,
    when: str,
    now: int,
    inventory: int | None = None,
    sizes: dict[str, int] | None = None,
) -> list[str]:
    """The invariants of the inventory (`core`'s unless given), each size's (likewise) and
    `ledger` as they are about to be committed; a violation halts sales (in `core`, saved by
    the caller's commit) and raises the alarm."""
    left = int(core["inventory"]) if inventory is None else inventory
    found = sales.problems(config.inventory, left, ledger)
    initial = state.initial_sizes(config)
    if initial is not None:
        per_size = core.get("variantInventory", {}) if sizes is None else sizes
        found += sales.size_problems(initial, per_size, ledger)
    if not found:
        return []
    reason = "; ".join(found)
    core.setdefault("halted", reason)
    ctx.set(ALARM, {"reason": reason, "when": when, "atMs": now})
    metrics.count(metrics.INVARIANT_VIOLATIONS, ctx.key())
    log.error("DROP INVARIANT BROKEN on %s at %s: %s; sales halted", ctx.key(), when, reason)
    return found
