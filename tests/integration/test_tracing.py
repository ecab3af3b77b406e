"""Traces across processes: the web, the api and the worker export to an in-process OTLP
collector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_client import DropApi, uid
from tests.support.otlp import Collector, Span, running_collector
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

REGISTER = "POST /api/drop/{dropId}/register"
# From the worker's attempt up to the api's request span: each the parent of the next.
API_CHAIN = [
    ("Restate", "invocation-attempt Drop/{key}/registerBatch"),
    ("Restate", "invocation-start Drop/{key}/registerBatch"),
    ("Restate", "ingress Drop/{key}/registerBatch"),
    ("drop-api", "Drop.registerBatch"),
    ("drop-api", "group commit"),
    ("drop-api", REGISTER),
]
PROXIED = "POST /api/{path:path}"


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[str, Collector]]:
    with running_collector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, collector: tuple[str, Collector]
) -> Iterator[Stack]:
    endpoint, _ = collector
    # Spans leave each process a moment after they end instead of after the default 5 s.
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    s = Stack(Path(tmp_path_factory.mktemp("traced")), extra_env=env)
    try:
        s.start_servers()
        s.start_app("worker")
        s.start_app("api")
        s.start_app("web")  # after the api: it is given the api's address
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
async def traced_api(traced_stack: Stack) -> AsyncIterator[DropApi]:
    async with httpx.AsyncClient(base_url=traced_stack.url("api"), timeout=60) as client:
        yield DropApi(client)


@pytest.fixture(scope="module")
async def traced_web(traced_stack: Stack) -> AsyncIterator[DropApi]:
    async with httpx.AsyncClient(base_url=traced_stack.url("web"), timeout=60) as client:
        yield DropApi(client)


def ancestors(span: Span, spans: list[Span]) -> list[Span]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


def _joined(api_span: str, worker_span: str) -> Callable[[list[Span]], tuple[Span, Span] | None]:
    """Finds (the api's span, the worker's span) of one trace, the worker's span below
    the api's through Restate's own spans."""

    def find(spans: list[Span]) -> tuple[Span, Span] | None:
        for request in (s for s in spans if s.service == "drop-api" and s.name == api_span):
            for done in spans:
                if (
                    done.service == "drop-worker"
                    and done.name == worker_span
                    and done.trace_id == request.trace_id
                    and request in ancestors(done, spans)
                ):
                    return request, done
        return None

    return find


async def test_a_registration_is_one_trace_from_the_api_through_restate_to_the_worker(
    traced_api: DropApi, collector: tuple[str, Collector]
) -> None:
    _, spans_in = collector
    drop_id = uid("traced")
    await traced_api.create(drop_id)
    answer = await traced_api.register(drop_id, uid("tu"), 1)
    assert answer.status_code == 200, answer.text

    find = _joined(REGISTER, "Drop.registerBatch")
    spans = await asyncio.to_thread(spans_in.wait_for, lambda got: find(got) is not None)
    found = find(spans)
    assert found is not None
    _, attempt = found
    chain = [(s.service, s.name) for s in ancestors(attempt, spans)]
    # The api's group commit and durable call, then Restate's ingress, invocation and
    # attempt: one trace, each span the parent of the next.
    assert chain == API_CHAIN, chain


async def test_worker_log_lines_carry_the_trace_id_of_the_call(
    traced_api: DropApi, traced_stack: Stack, collector: tuple[str, Collector]
) -> None:
    _, spans_in = collector
    drop_id = uid("traced-log")
    await traced_api.create(drop_id)
    # Logged by Drop.initialize before it answered, so before the api's 201.
    created = [
        line
        for line in traced_stack.log("worker").read_text().splitlines()
        if f"drop {drop_id} created" in line
    ]
    assert len(created) == 1, created
    assert "trace_id=" in created[0], created[0]
    trace_id = created[0].rpartition("trace_id=")[2]

    def api_call_in(spans: list[Span]) -> bool:
        return any(s.trace_id == trace_id and s.name == "POST /api/drops" for s in spans)

    spans = await asyncio.to_thread(spans_in.wait_for, api_call_in)
    request = next(s for s in spans if s.trace_id == trace_id and s.name == "POST /api/drops")
    assert request.service == "drop-api"


async def test_a_registration_through_the_web_proxy_is_one_trace_from_the_web_to_the_worker(
    traced_api: DropApi,
    traced_web: DropApi,
    traced_stack: Stack,
    collector: tuple[str, Collector],
) -> None:
    _, spans_in = collector
    web = traced_stack.url("web")
    async with httpx.AsyncClient(base_url=web, timeout=10) as plain:
        for path in ("/health", "/ready", "/static/css/site.css"):
            await plain.get(path)
    drop_id = uid("traced-web")
    await traced_api.create(drop_id)
    # A browser's own traceparent is continued by the web's span, not passed on as is.
    browser = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    answer = await traced_web.register(drop_id, uid("tw"), 1, headers={"traceparent": browser})
    assert answer.status_code == 200, answer.text

    def find(spans: list[Span]) -> tuple[Span, Span] | None:
        for proxied in (s for s in spans if s.service == "drop-web" and s.name == PROXIED):
            for done in spans:
                if (
                    done.service == "drop-worker"
                    and done.name == "Drop.registerBatch"
                    and done.trace_id == proxied.trace_id
                    and proxied in ancestors(done, spans)
                ):
                    return proxied, done
        return None

    spans = await asyncio.to_thread(spans_in.wait_for, lambda got: find(got) is not None)
    found = find(spans)
    assert found is not None
    proxied, attempt = found
    assert (proxied.trace_id, proxied.parent_id) == (browser[3:35], browser[36:52])
    chain = [(s.service, s.name) for s in ancestors(attempt, spans)]
    # The web's server span is the parent of the api's: the proxied request carried it.
    assert chain == [*API_CHAIN, ("drop-web", PROXIED)], chain
    # Liveness, readiness and static files make no spans.
    assert {s.name for s in spans if s.service == "drop-web"} == {PROXIED}
