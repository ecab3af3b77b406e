"""The waiting room on the wire: its parameters, joining and the heartbeat."""

from __future__ import annotations

from pydantic import Field

from drop.contracts.base import Wire
from drop.contracts.registration import BehaviorSignalsIn
from drop.settings import QueueSettings


class QueueConfig(Wire):
    """The waiting room's parameters, sent by the API (from its settings) with every join."""

    rate: float = Field(gt=0, le=100_000, description="admissions per second")
    max_concurrent: int = Field(ge=1, le=100_000)
    ready_window_s: float = Field(gt=0, le=86_400)
    max_age_s: float = Field(gt=0, le=7 * 86_400)
    max_per_fingerprint: int = Field(default=1, ge=1, le=1_000)
    max_per_ip: int = Field(default=3, ge=1, le=1_000)

    @classmethod
    def from_settings(cls, q: QueueSettings) -> QueueConfig:
        return cls(
            rate=q.queue_admission_rate,
            max_concurrent=q.queue_max_concurrent,
            ready_window_s=q.queue_ready_window,
            max_age_s=q.queue_max_age * 60,
            max_per_fingerprint=q.queue_max_per_fingerprint,
            max_per_ip=q.queue_max_per_ip,
        )


class QueueJoinIn(Wire):
    fingerprint: str = Field(min_length=1, max_length=200)


class QueueHeartbeatIn(Wire):
    token: str = Field(min_length=1, max_length=200)
    behavior_signals: BehaviorSignalsIn | None = None
