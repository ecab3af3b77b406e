"""A test-only crash: `os._exit` right before the k-th journaled action of one invocation.

Installed only when `DROP_TEST_CRASH_AT` names a file (and refused with
DROP_ENV=production). The file holds plans, one a line,
`<Service>/<handler>:<k>` or `<Service>/<handler>:<k>@<key>`; the first invocation of that
handler (on that key) that reaches its k-th journaled action (a state read, write or
clear, a `ctx.run`, a sleep, a call or a send) without replaying it strikes its plan from
the file and ends the process at once, as a kill -9 would. The retry, on a restarted
worker, replays the journal up to there and goes on.
Tests: `tests/integration/test_replay.py`; rules for handlers: `docs/determinism.md`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restate.server_context import ServerInvocationContext

log = logging.getLogger("worker.crash_hook")

ENV = "DROP_TEST_CRASH_AT"
# Every method of the context that adds an entry to the journal.
JOURNALED = ("get", "state_keys", "set", "clear", "clear_all", "run", "run_typed", "sleep")
CALLS = ("do_raw_call",)
EXIT_CODE = 70


@dataclass(frozen=True)
class Plan:
    target: str
    step: int
    key: str | None

    @classmethod
    def parse(cls, text: str) -> Plan:
        target, _, rest = text.strip().partition(":")
        step, _, key = rest.partition("@")
        return cls(target, int(step), key or None)


def _plan_for(ctx: ServerInvocationContext, path: Path) -> Plan | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    handler = f"{ctx.handler.service_tag.name}/{ctx.handler.name}"
    for line in lines:
        try:
            plan = Plan.parse(line)
        except ValueError:
            continue
        if plan.target == handler and plan.key in (None, ctx.key()):
            return plan
    return None


def _strike(path: Path, plan: Plan) -> bool:
    """Remove the plan from the file; False when it is no longer there."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    left = [line for line in lines if line.strip() and Plan.parse(line) != plan]
    if len(left) == len([line for line in lines if line.strip()]):
        return False
    path.write_text("".join(f"{line}\n" for line in left))
    return True


def _counted(original: Callable[..., Any], path: Path) -> Callable[..., Any]:
    @functools.wraps(original)
    def journaled(self: ServerInvocationContext, *args: Any, **kwargs: Any) -> Any:
        step = getattr(self, "_crash_step", 0) + 1
        self._crash_step = step  # type: ignore[attr-defined]
        if step == 1:
            self._crash_plan = _plan_for(self, path)  # type: ignore[attr-defined]
        plan: Plan | None = getattr(self, "_crash_plan", None)
        due = plan is not None and plan.step == step and not self.vm.is_replaying()
        if due and plan is not None and _strike(path, plan):
            log.warning("crash hook: exiting before step %d of %s", step, plan.target)
            os._exit(EXIT_CODE)
        return original(self, *args, **kwargs)

    return journaled


def install_if_asked() -> bool:
    """Wrap the context's journaled methods when `DROP_TEST_CRASH_AT` is set."""
    where = os.environ.get(ENV, "")
    if not where:
        return False
    if os.environ.get("DROP_ENV") == "production":
        raise RuntimeError(f"{ENV} is a test hook; refusing it with DROP_ENV=production")
    path = Path(where)
    for name in (*JOURNALED, *CALLS):
        setattr(
            ServerInvocationContext, name, _counted(getattr(ServerInvocationContext, name), path)
        )
    log.warning("crash hook installed: plans are read from %s", path)
    return True
