"""Helpers for the web tests: an in-loop server, a tiny SSE reader, the web stack's processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from devtools import devstack
from devtools.devstack import Proc
from drop import serve as servers
from tests.support.stack import Stack

ADMIN_SECRET = "test-admin-secret"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn on a free port in this event loop; yield its URL."""
    port = devstack.free_port()
    config = uvicorn.Config(
        servers.with_client_address(app),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        **servers.uvicorn_limits(),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Event:
    name: str
    data: Any
    id: str | None
    at: float  # time.perf_counter() when the blank line ending it arrived


@dataclass
class EventReader:
    """Reads an open text/event-stream response into a queue, stamping arrival times."""

    response: httpx.Response
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    async def pump(self) -> None:
        fields: dict[str, str] = {}
        with contextlib.suppress(httpx.HTTPError):
            async for line in self.response.aiter_lines():
                if line.startswith(":"):
                    continue
                if line == "":
                    if "data" in fields:
                        event = Event(
                            fields.get("event", "message"),
                            json.loads(fields["data"]),
                            fields.get("id"),
                            time.perf_counter(),
                        )
                        await self.events.put(event)
                    fields = {}
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def next(self, name: str | None = None, timeout: float = 15.0) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if name is None or event.name == name:
                    return event


@asynccontextmanager
async def read_events(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[EventReader]:
    async with client.stream("GET", url, headers=headers, timeout=None) as response:
        assert response.status_code == 200, await response.aread()
        reader = EventReader(response)
        task = asyncio.create_task(reader.pump())
        try:
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class WebStack:
    """The site in front of an API with the waiting room and bot checks switched on.

    The session's shared API runs with both off (most tests exercise the drop itself); the
    browser journey goes through them, so it gets an API of its own on the same
    NATS/Restate/worker, plus the shared SSE service.
    """

    api: str
    sse: str
    web: str
    procs: list[Proc]
    beacon: str = ""  # the test beacon's URL (its /control turns a round's answers bad)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def start_web_stack(stack: Stack, root: Path, pow_difficulty: int = 3) -> WebStack:
    sse = stack.start_app("sse")
    env = {
        **stack.app_env(),
        "QUEUE_ENABLED": "true",
        "BOT_CHECK_ENABLED": "true",
        "POW_DIFFICULTY": str(pow_difficulty),
        # All browsers share 127.0.0.1; rate limits have tests of their own.
        "SKIP_RATE_LIMIT": "true",
    }
    procs: list[Proc] = []
    try:
        api_port, api_metrics = devstack.free_port(), devstack.free_port()
        api_env = {**env, "METRICS_PORT": str(api_metrics)}
        api = devstack.app_proc("api", api_port, api_env, root / "api-guarded.log").start()
        procs.append(api)
        api_url = f"http://127.0.0.1:{api_port}"
        devstack.wait_http(f"{api_url}/health", "guarded api")
        web_port = devstack.free_port()
        web_env = {
            **env,
            "INTERNAL_API_URL": api_url,
            "INTERNAL_SSE_URL": sse,
            "INTERNAL_API_METRICS_URL": f"http://127.0.0.1:{api_metrics}",
        }
        web = devstack.app_proc("web", web_port, web_env, root / "web-e2e.log").start()
        procs.append(web)
        web_url = f"http://127.0.0.1:{web_port}"
        devstack.wait_http(f"{web_url}/health", "web")
    except BaseException:
        for proc in reversed(procs):
            proc.stop()
        raise
    return WebStack(api=api_url, sse=sse, web=web_url, procs=procs, beacon=stack.beacon_url)
