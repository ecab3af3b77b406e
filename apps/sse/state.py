"""What the sse app holds while it runs: its settings and, once NATS answers, the runtime.

The routes reach it as `request.app.state.sse`; admission (the gate and the refusals it
sends) lives here so every stream route admits the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from apps.sse.fanout import Listener
from apps.sse.gate import Admission
from apps.sse.response import EventStream
from apps.sse.runtime import Runtime
from apps.sse.sessions import SessionCheck
from drop.settings import ConnectionSettings, NatsAuthSettings, SseSettings

log = logging.getLogger("sse")


@dataclass
class SseState:
    settings: SseSettings
    sessions: SessionCheck
    connections: ConnectionSettings
    nats_auth: NatsAuthSettings
    rt: Runtime | None = None
    _starting: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._starting = asyncio.create_task(self._connect())

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self.rt is not None:
            rt, self.rt = self.rt, None
            await rt.stop()

    async def _connect(self) -> None:
        """Start the NATS feeds, retrying: the service answers /health (and 503 on streams)
        while NATS is not reachable yet."""
        while True:
            try:
                self.rt = await Runtime.start(
                    self.settings, self.sessions, self.connections, self.nats_auth
                )
                return
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(1.0)

    def open_connections(self) -> int:
        return self.rt.gate.open if self.rt is not None else 0

    def busy(self) -> JSONResponse:
        headers = {"Retry-After": str(self.settings.sse_retry_after_seconds)}
        return JSONResponse({"error": "Too many connections"}, status_code=503, headers=headers)

    def refused(self, admission: Admission) -> JSONResponse:
        if admission == "client_full":
            headers = {"Retry-After": str(self.settings.sse_retry_after_seconds)}
            body = {
                "error": f"Too many open streams from your address (at most "
                f"{self.settings.sse_max_streams_per_ip})",
                "code": "too_many_streams",
            }
            return JSONResponse(body, status_code=429, headers=headers)
        return self.busy()

    def admit(self, rt: Runtime, request: Request) -> str | JSONResponse:
        """The client's address once it holds a slot (given back when its stream ends), or
        the refusal to send."""
        if rt.draining:
            return self.busy()
        # drop.client_address (applied by drop.serve) has put the decided client address here.
        client = request.client.host if request.client else "unknown"
        admission = rt.gate.enter(client)
        return client if admission == "ok" else self.refused(admission)


def open_stream(
    rt: Runtime,
    client: str,
    listener: Listener[Any],
    opening: Coroutine[Any, Any, bytes],
    render: Callable[[list[Any]], bytes],
    release: Callable[[], None],
) -> EventStream:
    """The stream of an admitted client; ending it gives back its listener and its slot."""
    rt.listeners.add(listener)

    def release_all() -> None:
        rt.listeners.discard(listener)
        release()
        rt.gate.leave(client)

    return EventStream(opening, listener, render, release_all, rt.settings.sse_retry_after_seconds)


def sse_state(request: Request) -> SseState:
    state: SseState = request.app.state.sse
    return state
