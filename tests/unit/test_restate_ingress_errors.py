"""The ingress client passes our handlers' refusals on and keeps everything else internal."""

from __future__ import annotations

import httpx
import pytest

from drop import durable
from drop.adapters.restate_ingress import DurableCallError, RestateIngress, ingress_path

SECRET_DETAIL = "panic at /srv/apps/worker/drop_object.py:42 (db password=hunter2)"


def ingress(status: int, body: object) -> RestateIngress:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return RestateIngress(
        [httpx.AsyncClient(base_url="http://restate", transport=httpx.MockTransport(answer))]
    )


async def failure(status: int, body: object) -> DurableCallError:
    with pytest.raises(DurableCallError) as caught:
        await ingress(status, body).call(durable.DROP_GET_STATE, None, key="d")
    return caught.value


async def test_a_handler_refusal_keeps_its_code_and_message() -> None:
    err = await failure(404, {"message": "drop_not_found: drop d does not exist"})
    assert (err.status, err.code, err.message) == (404, "drop_not_found", "drop d does not exist")


@pytest.mark.parametrize(
    ("status", "expected"), [(500, 502), (502, 502), (503, 503), (504, 504), (599, 502)]
)
async def test_server_errors_are_never_echoed(status: int, expected: int) -> None:
    for body in ({"message": SECRET_DETAIL}, {"message": f"oops: {SECRET_DETAIL}"}, SECRET_DETAIL):
        err = await failure(status, body)
        assert err.status == expected
        assert err.code and err.code.startswith("durable_")
        assert "hunter2" not in err.message and "worker" not in err.message


async def test_the_durable_layers_own_4xx_is_answered_generically() -> None:
    err = await failure(404, {"message": f"Service 'Drop' not found. {SECRET_DETAIL}"})
    assert (err.status, err.code, err.message) == (404, "refused", "the request was refused")


def test_ingress_paths_name_the_service_the_object_and_the_handler() -> None:
    assert ingress_path(durable.DIAG_PING) == "/Diagnostics/ping"
    assert ingress_path(durable.QUEUE_STATS, "d1") == "/QueueAdmission/d1/getQueueStats"


async def test_calls_and_sends_go_to_the_targets_path() -> None:
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json="pong")

    client = httpx.AsyncClient(base_url="http://restate", transport=httpx.MockTransport(answer))
    restate = RestateIngress([client])
    assert await restate.call(durable.DIAG_PING, None) == "pong"
    await restate.send(durable.QUEUE_STATS, None, key="d1")
    assert paths == ["/Diagnostics/ping", "/QueueAdmission/d1/getQueueStats/send"]
    await restate.close()
