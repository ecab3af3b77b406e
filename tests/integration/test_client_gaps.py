"""What clients of the original services and schema-driven clients see: the headers and
the timestamp rule in OpenAPI, the original per-user status route, and queue counters of
an unknown drop answered from the index."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_client import DropApi, now_ms, uid

pytestmark = pytest.mark.integration


def header_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


async def test_openapi_declares_the_headers_and_the_timestamp_rule(api: DropApi) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    register = paths["/api/drop/{dropId}/register"]["post"]
    assert {"Idempotency-Key", "X-Claim-Secret"} <= header_names(register)
    for path in (
        "/api/drop/{dropId}/purchase/start",
        "/api/drop/{dropId}/purchase",
        "/api/queue/{dropId}/join",
    ):
        assert "Idempotency-Key" in header_names(paths[path]["post"]), path
    start = spec["components"]["schemas"]["DropConfig"]["properties"]["registrationStart"]
    assert start["x-within-ms-of-now"] == 10 * 366 * 86_400_000
    assert "10 years" in start["description"]


async def test_openapi_declares_validation_as_the_400_it_is(api: DropApi) -> None:
    """FastAPI would list a 422 on every route with input; clients get 400 `ErrorOut`."""
    spec = (await api.client.get("/openapi.json")).json()
    operations = [op for ops in spec["paths"].values() for op in ops.values()]
    for op in operations:
        for status, response in op["responses"].items():
            if status.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorOut", (op["operationId"], status)
    join = spec["paths"]["/api/queue/{dropId}/join"]["post"]["responses"]
    assert "400" in join and "422" not in join
    register = spec["paths"]["/api/drop/{dropId}/register"]["post"]["responses"]
    assert "400" in register and "422" in register  # idempotency_key_reused
    schemas = spec["components"]["schemas"]
    assert "ErrorOut" in schemas and "HTTPValidationError" not in schemas
    refused = await api.client.post("/api/drop/x/register", json={"tickets": "many"})
    assert refused.status_code == 400 and set(refused.json()) <= set(
        schemas["ErrorOut"]["properties"]
    )


async def test_the_original_participant_status_route_answers_like_me(api: DropApi) -> None:
    drop_id, user = uid("part"), uid("u")
    await api.create(drop_id, registrationEnd=now_ms() + 600_000)
    assert (await api.register(drop_id, user, 2)).status_code == 200
    route = f"/api/participant/{drop_id}:{user}/status"

    mine = await api.client.get(route, headers=api.auth(user))
    assert mine.status_code == 200, mine.text
    assert mine.json() == await api.me(drop_id, user)
    anyone = await api.client.get(route)
    assert anyone.status_code == 200 and anyone.json()["status"] == "registered"
    assert anyone.json()["token"] is None and anyone.json()["tickets"] == 2

    stranger = await api.client.get(f"/api/participant/{drop_id}:{uid('nobody')}/status")
    assert stranger.status_code == 200 and stranger.json()["status"] == "not_registered"
    for bad in (f"{drop_id}", f"{drop_id}:{user}:x", f"{drop_id}:"):
        refused = await api.client.get(f"/api/participant/{bad}/status")
        assert refused.status_code == 400, (bad, refused.text)


async def test_queue_stats_of_an_unknown_drop_is_a_404_from_the_index(api: DropApi) -> None:
    r = await api.client.get(f"/api/queue/{uid('nodrop')}/stats")
    assert r.status_code == 404 and r.json()["code"] == "drop_not_found", r.text
    known = uid("known")
    await api.create(known, registrationEnd=now_ms() + 600_000)
    assert (await api.client.get(f"/api/queue/{known}/stats")).status_code == 200
