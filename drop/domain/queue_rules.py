"""Waiting-room arithmetic: wait estimates and how many tokens to admit per tick."""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections.abc import Sequence

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


def accrue_credit(credit: float, rate: float, elapsed_s: float, burst: float) -> float:
    """Admission credit after ``elapsed_s`` more seconds at ``rate`` tokens/s (a token bucket).

    Credit is earned for the time that really passed, so a tick that runs late admits what
    it owes and the long-run rate stays exact; it is capped at ``burst`` (at least one
    token) so a stalled or idle room cannot save up a flood.
    """
    earned = credit + max(rate, 0.0) * max(elapsed_s, 0.0)
    return max(0.0, min(earned, max(burst, 1.0)))


def place_in_line(seq: int, head: int, holes: Sequence[int]) -> int:
    """1-based place of the waiting token with sequence number ``seq``.

    ``head`` is the lowest sequence number that may still be waiting and ``holes`` the
    sorted sequence numbers at or after ``head`` that left the line out of order, so the
    place is exact: the tokens in ``[head, seq)`` minus the holes among them, plus one.
    """
    return max(1, seq - head + 1 - bisect.bisect_left(holes, seq))


TOKEN_TAG_LENGTH = 8
_TOKEN = re.compile(r"[0-9a-f]{16,64}")


def _drop_tag(drop_id: str) -> str:
    return hashlib.sha256(f"queue:{drop_id}".encode()).hexdigest()[:TOKEN_TAG_LENGTH]


def make_queue_token(drop_id: str, random_hex: str) -> str:
    """A queue token: a tag naming its drop, then the secret random part (hex).

    The tag is public (anyone can compute it); it only lets a guard tell "this token is for
    another drop" from "this token does not exist". The drop's own record is the authority.
    """
    return _drop_tag(drop_id) + random_hex.lower()


def token_is_well_formed(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token)) and len(token) > TOKEN_TAG_LENGTH


def token_belongs_to(token: str, drop_id: str) -> bool:
    return token_is_well_formed(token) and token[:TOKEN_TAG_LENGTH] == _drop_tag(drop_id)
