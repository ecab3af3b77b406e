"""Waiting-room arithmetic: wait estimates and how many tokens to admit per tick."""

from __future__ import annotations

import math

_EPSILON = 1e-9


def estimated_wait_seconds(
    position: int, admission_rate: float, ready_count: int, max_concurrent: int
) -> int:
    """Estimated seconds before the token at ``position`` (people ahead of it) is admitted.

    ``ceil(position / admission_rate)``, at least 0: the admission rate is the throughput
    bound. ``ready_count`` and ``max_concurrent`` are accepted so a busier ready room can
    refine the estimate later; today a full room does not lengthen it, because ready
    tokens are used or expire within seconds and the rate dominates. A non-positive rate
    (admission paused) returns the estimate as if one token per second were admitted.
    """
    del ready_count, max_concurrent  # part of the stable signature, see the docstring
    rate = admission_rate if admission_rate > 0 else 1.0
    return max(0, math.ceil(position / rate - _EPSILON))


def admissions_this_tick(
    waiting: int, ready: int, max_concurrent: int, rate: float, tick_seconds: float
) -> int:
    """Tokens to promote from waiting to ready in one tick of the admission loop.

    ``min(waiting, free ready slots, floor(rate * tick_seconds))``, never negative. When the
    rate is positive but a tick is too short to earn a whole token, one is still admitted
    so a slow rate can never starve the queue.
    """
    if rate <= 0 or tick_seconds <= 0:
        return 0
    quota = max(1, math.floor(rate * tick_seconds + _EPSILON))
    return max(0, min(waiting, max_concurrent - ready, quota))
