"""An ASGI app served the way the api is (drop.serve.granian_runtime), whose one answer
says whether a deadline inside a request fires: `asyncio.timeout` around a wait that never
ends, as the api's Restate and guard calls are bounded (httpx's, anyio's and
drop.adapters.nats_link's timeouts all cancel the request's task)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces

from drop import serve
from drop.settings import ApiServerSettings

DEADLINE_S = 0.05


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/ready":
        body = b"ready"
    else:
        body = await deadline()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def deadline() -> bytes:
    try:
        async with asyncio.timeout(DEADLINE_S):
            await asyncio.get_running_loop().create_future()
    except TimeoutError:
        return b"deadline fired"
    return b"deadline ignored"


if __name__ == "__main__":
    Granian(
        "tests.support.deadline_app:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        **serve.granian_runtime(ApiServerSettings()),
    ).serve()
