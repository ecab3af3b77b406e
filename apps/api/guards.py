"""Guards in front of registration (rate limit, waiting room, bot checks).

The waiting room and bot defense fill these in; until then registration is unguarded.
"""

from __future__ import annotations

from fastapi import Request

from apps.api.state import ApiState
from drop.adapters.nats_bus import Bus
from drop.contracts import RegisterIn


async def check_registration(
    request: Request, state: ApiState, bus: Bus, drop_id: str, body: RegisterIn
) -> None:
    """Refuse the registration (raise ApiError) unless every guard passes."""


async def after_registration(
    request: Request, state: ApiState, bus: Bus, drop_id: str, body: RegisterIn
) -> None:
    """Consume what a successful registration used up (the queue token)."""
