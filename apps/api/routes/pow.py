"""Proof-of-work challenges for the bot check at registration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from apps.api import guards
from apps.api.deps import NatsBus, State

router = APIRouter(prefix="/api/pow")


@router.get("/challenge")
async def challenge(request: Request, state: State, bus: NatsBus) -> dict[str, Any]:
    """A single-use challenge `"<ms>:<32 hex>"`: find a nonce such that
    `sha256(challenge + nonce)` in hex starts with `difficulty` zeros. Valid 5 minutes.
    A join or heartbeat answered `ready` carries one too (`powChallenge`)."""
    await guards.rate_limit(request, state, bus, "challenge")
    return guards.issue_challenge(state)
