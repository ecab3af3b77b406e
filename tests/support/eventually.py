"""Wait for a condition that becomes true on its own: the one polling helper of the tests.

`check` states the condition with plain asserts (or by raising one of `retry_on`) and returns
what the test needs next. It is called until it passes, `interval` apart; past `timeout` the
last failure is raised with `what` in front, so the message says what never happened and how
things stood the last time anyone looked. Prefer awaiting an event when there is one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Retried = tuple[type[BaseException], ...]


def _gave_up(what: str, timeout: float, last: BaseException | None) -> AssertionError:
    reason = f": {last}" if last is not None and str(last) else ""
    return AssertionError(f"{what} did not happen within {timeout:g} s{reason}")


def eventually(
    check: Callable[[], T],
    *,
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    retry_on: Retried = (),
) -> T:
    """`check()`'s value once it passes; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    caught: Retried = (AssertionError, *retry_on)
    while True:
        try:
            return check()
        except caught as failure:
            if time.monotonic() >= deadline:
                raise _gave_up(what, timeout, failure) from failure
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    retry_on: Retried = (),
) -> T:
    """The async form of `eventually`: `check` is awaited, and waiting never blocks the loop."""
    deadline = time.monotonic() + timeout
    caught: Retried = (AssertionError, *retry_on)
    while True:
        try:
            return await check()
        except caught as failure:
            if time.monotonic() >= deadline:
                raise _gave_up(what, timeout, failure) from failure
        await asyncio.sleep(interval)
