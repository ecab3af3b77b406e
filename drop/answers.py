"""What the api's routes answer, where no shared wire or durable model says it already:
the registration answer with its claim fields, and the drop state with the server's clock."""

from __future__ import annotations

from pydantic import Field

from drop.contracts import DropState, EpochMs, Wire
from drop.durable import Registered


class RegisterAnswer(Registered):
    """The worker's registration answer, plus what the api adds about the claim: the
    server-made `recoveryCode` (the one time it exists), and on a replay that proves no
    claim, `sessionIssued: false` with the route that trades the code for a session."""

    recovery_code: str | None = Field(
        default=None, description="present only when the server made the claim's secret"
    )
    session_issued: bool | None = Field(
        default=None, description="present on replays and on `already_registered`"
    )
    recover_with: str | None = Field(
        default=None, description="present when a replay issued no session"
    )


class StatusOut(DropState):
    """The drop state with the server's clock, for countdowns."""

    server_time: EpochMs


class ActiveDropsOut(Wire):
    drops: list[DropState]
    server_time: EpochMs
