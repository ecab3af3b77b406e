"""No internal error text reaches clients: a failing durable layer gets a generic answer."""

from __future__ import annotations

import httpx
import pytest

from apps.api.app import create_app
from devtools import devstack
from drop.settings import ConnectionSettings, NatsAuthSettings, SecretSettings
from tests.e2e.support import serve
from tests.support.api_client import DropApi, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_an_unreachable_durable_layer_is_a_generic_503(stack: Stack) -> None:
    dead_port = devstack.free_port()
    app = create_app(
        ConnectionSettings(
            nats_url=stack.nats_url,
            restate_ingress_url=f"http://127.0.0.1:{dead_port}",
            restate_timeout_seconds=5,
        ),
        SecretSettings(admin_secret="error-text-secret", drop_env="test"),
        nats_auth=NatsAuthSettings(
            nats_user=stack.auth.nats_user, nats_password=stack.auth.nats_password
        ),
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        for path in (f"/api/drop/rollover/{uid('u')}", f"/api/drop/loyalty/{uid('u')}"):
            r = await client.get(path)
            assert r.status_code == 503, r.text
            assert r.json() == {
                "error": "the service is temporarily unavailable; try again",
                "code": "durable_unavailable",
            }
            assert str(dead_port) not in r.text and "durable layer" not in r.text


async def test_handler_refusals_still_say_what_is_wrong(api: DropApi) -> None:
    r = await api.client.get(f"/api/drop/{uid('none')}/lottery-proof")
    assert r.status_code == 404
    assert r.json()["code"] == "drop_not_found"
