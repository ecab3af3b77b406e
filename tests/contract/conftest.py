"""An API with the waiting room and bot checks on, for the contract's registration tests
(the session's shared API runs with them off)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.stack import Stack, start_api

GUARDS_ON = {
    "QUEUE_ENABLED": "true",
    "SKIP_RATE_LIMIT": "true",
    "BOT_CHECK_ENABLED": "true",
    "POW_DIFFICULTY": "1",
    "QUEUE_ADMISSION_RATE": "50",
    "QUEUE_MAX_CONCURRENT": "2",
    "QUEUE_READY_WINDOW": "60",
    "MIN_TRUST_SCORE": "50",
    "QUEUE_MIN_BEHAVIOR_SCORE": "30",
}


@pytest.fixture(scope="session")
def guarded_api_url(stack: Stack) -> Iterator[str]:
    url, proc = start_api(stack, "api-contract", GUARDS_ON)
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
async def guarded(guarded_api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded_api_url, timeout=60) as client:
        yield client
