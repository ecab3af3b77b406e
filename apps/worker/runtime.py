"""What handlers need from the process: the NATS bus and the settings.

The restate-sdk ASGI app has no lifespan of its own, so `apps.worker.app` wraps it and
installs a `WorkerRuntime` here at start-up; handlers reach it through `current()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drop.adapters.nats_bus import Bus
from drop.settings import (
    BeaconSettings,
    DropPolicySettings,
    MailSettings,
    QueueSettings,
    SecretSettings,
)

if TYPE_CHECKING:
    from apps.worker.mail.smtp import SmtpPool


@dataclass
class WorkerRuntime:
    bus: Bus
    secrets: SecretSettings
    queue: QueueSettings
    policy: DropPolicySettings
    # The build this process is (WORKER_VERSION): Diagnostics.version reports it.
    version: str = ""
    beacon: BeaconSettings = field(default_factory=BeaconSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    # Open while mail is on (SMTP_URL set).
    smtp: SmtpPool | None = None


_current: WorkerRuntime | None = None


def install(runtime: WorkerRuntime | None) -> None:
    global _current
    _current = runtime


def current() -> WorkerRuntime:
    if _current is None:
        raise RuntimeError("worker runtime not started (NATS not connected yet)")
    return _current
