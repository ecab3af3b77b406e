"""The retry policy of every handler that changes state.

Errors a caller can fix are terminal at once. Anything else (NATS or a peer briefly away,
a crash) is retried with backoff, the gap never longer than a few seconds, so a drop
answers again soon after the worker returns. A handler still failing after about ten
minutes is paused, never killed: a kill would leave its state half written, while a
paused invocation keeps its journal and resumes where it stopped once an operator has
fixed the cause (`restate invocations resume <id>`). The console shows paused and
backing-off invocations (api `GET /api/admin/alarms`).
"""

from __future__ import annotations

from datetime import timedelta

import restate


def pause_after(
    first: timedelta, longest: timedelta, attempts: int
) -> restate.InvocationRetryPolicy:
    """Retries doubling from `first` up to `longest` apart; after `attempts`, paused."""
    return restate.InvocationRetryPolicy(
        initial_interval=first,
        exponentiation_factor=2.0,
        max_interval=longest,
        max_attempts=attempts,
        on_max_attempts="pause",
    )


PAUSE_WHEN_STUCK = pause_after(timedelta(milliseconds=100), timedelta(seconds=3), 200)
