"""QueueAdmission (key = dropId): the object, its limits and the parsing of joins."""

from __future__ import annotations

import re
from datetime import timedelta

import restate
from pydantic import JsonValue, ValidationError

from apps.worker import effects
from apps.worker.retries import PAUSE_WHEN_STUCK
from apps.worker.runtime import current
from drop.contracts import QueueConfig

queue_admission = restate.VirtualObject(
    "QueueAdmission", state_preload=False, invocation_retry_policy=PAUSE_WHEN_STUCK
)

TICK = timedelta(milliseconds=250)
CHUNK = 256
HEAD_WINDOW = 20
SWEEP_BUDGET = 40
# Head steps (admissions and max-age expiries) per tick: bounds the size of one invocation.
MAX_STEPS = 500
# Credit saved while a tick waits behind a burst of joins; also the largest admission burst.
BURST_SECONDS = 2.0
# Admission batches whose ready windows end within this of the first's share one sweep
# timer (a crowd admitted at join makes a batch per join batch, several a second).
SHARE_MS = 1_000
# A loop whose last tick is older than this is presumed broken and restarted by a join.
STALE_LOOP_MS = 10_000

_HASH = re.compile(r"^[0-9a-f]{16,128}$")


def default_config() -> QueueConfig:
    return QueueConfig.from_settings(current().queue)


def chunk_key(seq: int) -> str:
    return f"line:{(seq - 1) // CHUNK}"


def hash_arg(req: JsonValue, name: str) -> str | None:
    """The hex digest under `name` of a join, or None when it is not one."""
    value = req.get(name) if isinstance(req, dict) else None
    return value if isinstance(value, str) and _HASH.fullmatch(value) else None


def parse_config(raw: JsonValue) -> QueueConfig:
    if raw is None:
        return default_config()
    try:
        return QueueConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise effects.fail("invalid_request", f"queue config {where}: {first['msg']}", 400) from exc
