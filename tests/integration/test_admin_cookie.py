"""The admin console's cookie is Secure whenever the browser talked https to our edge, and
holds nothing but the API's session token."""

from __future__ import annotations

import httpx
import pytest

from apps.web.app import create_app
from drop.settings import ConnectionSettings, RuntimeSettings, SecretSettings
from tests.e2e.support import ADMIN_SECRET as SECRET
from tests.e2e.support import serve
from tests.support.api_client import DropApi

pytestmark = pytest.mark.integration


@pytest.fixture
def api_url(api: DropApi) -> str:
    return str(api.client.base_url)


async def login_cookie(api_url: str, runtime: RuntimeSettings, headers: dict[str, str]) -> str:
    app = create_app(
        ConnectionSettings(internal_api_url=api_url, internal_sse_url=api_url),
        SecretSettings(admin_secret=SECRET, drop_env="test"),
        runtime=runtime,
    )
    async with serve(app) as web, httpx.AsyncClient(base_url=web) as client:
        r = await client.post("/admin/login", data={"secret": SECRET}, headers=headers)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("drop_admin=") and "HttpOnly" in cookie
    assert SECRET not in cookie
    return cookie


async def test_cookie_is_secure_behind_a_trusted_https_proxy(api_url: str) -> None:
    # The test server trusts 127.0.0.1 as its proxy, as the apps trust Fly's.
    development = RuntimeSettings(drop_env="development")
    behind_tls = await login_cookie(api_url, development, {"x-forwarded-proto": "https"})
    assert "Secure" in behind_tls
    plain = await login_cookie(api_url, development, {})
    assert "Secure" not in plain


async def test_cookie_is_always_secure_in_production(api_url: str) -> None:
    production = RuntimeSettings(drop_env="production")
    assert "Secure" in await login_cookie(api_url, production, {"x-forwarded-proto": "http"})
