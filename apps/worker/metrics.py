"""The worker's business counters, per drop: queue joins, admissions and expiries;
registrations, draws, winners and purchases.

A handler's code runs again when Restate replays its journal (after a crash or a
suspension), so counting there would count twice. Counts are taken right after the
journaled step that made the change, and only when the handler is not replaying (the
flag restate-sdk's own log filter uses). Without crashes the counts are exact; a handler
retried right after its last step may count that step once more.
"""

from __future__ import annotations

from prometheus_client import Counter
from restate.server_context import restate_context_is_replaying

from drop.metrics import ActiveLabels

QUEUE_JOINS = Counter("queue_joins_total", "People given a place in a waiting room", ["drop"])
QUEUE_ADMISSIONS = Counter(
    "queue_admissions_total", "Waiting-room tokens made ready to register", ["drop"]
)
QUEUE_EXPIRIES = Counter(
    "queue_expiries_total", "Waiting-room tokens that lapsed unused or waited too long", ["drop"]
)
REGISTRATIONS = Counter("registrations_total", "Entries accepted into a drop", ["drop"])
DRAWS = Counter("draws_total", "Lotteries drawn", ["drop"])
WINNERS = Counter("winners_total", "Winners drawn (backups not included)", ["drop"])
PURCHASES = Counter("purchases_total", "Purchases completed", ["drop"])
INVARIANT_VIOLATIONS = Counter(
    "drop_invariant_violations_total",
    "Times a drop's sales broke an invariant (orders, ids, inventory); its sales are halted",
    ["drop"],
)

# The 50 most recently active drops keep their series; older ones are dropped from /metrics.
DROP_LABELS = ActiveLabels(
    [
        QUEUE_JOINS,
        QUEUE_ADMISSIONS,
        QUEUE_EXPIRIES,
        REGISTRATIONS,
        DRAWS,
        WINNERS,
        PURCHASES,
        INVARIANT_VIOLATIONS,
    ]
)


def count(counter: Counter, drop_id: str, amount: int = 1) -> None:
    if amount > 0 and not restate_context_is_replaying.get():
        counter.labels(DROP_LABELS(drop_id)).inc(amount)
