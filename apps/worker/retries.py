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

PAUSE_WHEN_STUCK = restate.InvocationRetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    exponentiation_factor=2.0,
    max_interval=timedelta(seconds=3),
    max_attempts=200,
    on_max_attempts="pause",
)
