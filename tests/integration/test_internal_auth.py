"""Internal surfaces: the worker answers only calls Restate signed, NATS only known users."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from devtools import devstack
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_worker_refuses_unsigned_calls(stack: Stack) -> None:
    worker = stack.url("worker")
    forged = {"x-restate-signature-scheme": "v1", "x-restate-jwt-v1": "e30.e30.AAAA"}
    async with httpx.AsyncClient(base_url=worker, timeout=10) as client:
        assert (await client.get("/health")).status_code == 200
        for headers in ({}, forged):
            echo = await client.post(
                "/invoke/Diagnostics/echo",
                content=b"\0" * 8,
                headers={"content-type": "application/vnd.restate.invocation.v5", **headers},
            )
            assert echo.status_code == 401, echo.text
            discover = await client.get("/discover", headers=headers)
            assert discover.status_code == 401, discover.text


async def test_signed_calls_through_restate_still_work(stack: Stack) -> None:
    message = f"signed-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=30) as client:
        answer = await client.post("/Diagnostics/echo", json=message)
    assert answer.status_code == 200, answer.text


async def test_nats_refuses_anonymous_and_wrong_password(stack: Stack) -> None:
    for credentials in ({}, {"user": stack.auth.nats_user, "password": "not-the-password"}):
        with pytest.raises(NatsError):
            nc = await nats.connect(
                stack.nats_url, allow_reconnect=False, connect_timeout=2, **credentials
            )
            await nc.close()
    bus = await stack.connect_bus("auth-test")
    try:
        assert bus.nc.is_connected
    finally:
        await bus.close()


def production_env(stack: Stack) -> dict[str, str]:
    """The stack's settings in production mode, with secrets strong enough for it."""
    strong = {n: secrets.token_urlsafe(32) for n in ("ADMIN_SECRET", "PURCHASE_TOKEN_SECRET")}
    return {
        **os.environ,
        **stack.app_env(),
        **strong,
        "IP_HASH_SALT": secrets.token_urlsafe(32),
        "NATS_PASSWORD": secrets.token_urlsafe(32),
        "DROP_ENV": "production",
        "PORT": str(devstack.free_port()),
    }


def start_fails(app: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"apps.{app}"],
        env=env,
        cwd=devstack.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("app", "name", "value"),
    [
        ("api", "ADMIN_SECRET", "x"),
        ("web", "ADMIN_SECRET", "local-admin-secret"),
        ("sse", "IP_HASH_SALT", "local-ip-hash-salt"),
        ("worker", "PURCHASE_TOKEN_SECRET", "ab" * 20),
        ("api", "NATS_PASSWORD", "local-nats-password"),
    ],
)
def test_production_refuses_to_start_with_a_weak_or_published_secret(
    stack: Stack, app: str, name: str, value: str
) -> None:
    done = start_fails(app, {**production_env(stack), name: value})
    assert done.returncode == 2, done.stderr[-2000:]
    assert name in done.stderr and "refusing to start" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("app", "missing"),
    [
        ("worker", "RESTATE_IDENTITY_KEYS"),
        ("worker", "NATS_PASSWORD"),
        ("api", "NATS_USER"),
        ("sse", "NATS_PASSWORD"),
    ],
)
def test_production_refuses_to_start_without_internal_credentials(
    stack: Stack, app: str, missing: str
) -> None:
    done = start_fails(app, {**production_env(stack), missing: ""})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{missing} must be set" in done.stderr
