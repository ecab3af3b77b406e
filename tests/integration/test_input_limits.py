"""Input limits against the real stack: bounded numbers and ids matched whole."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from tests.support.api_client import ADMIN, DropApi, now_ms, uid
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

HUGE = "1" + "0" * 400  # 10**400 as a JSON number, the way an attacker types it


def drop_body(drop_id: str, **overrides: Any) -> dict[str, Any]:
    start = now_ms()
    return {
        "dropId": drop_id,
        "inventory": 2,
        "registrationStart": start,
        "registrationEnd": start + 60_000,
        "purchaseWindow": 30,
        **overrides,
    }


async def refused(api: DropApi, path: str, raw: str) -> dict[str, Any]:
    """POST a hand-written JSON body; it must be a 400 with a reason, answered at once."""
    headers = {**ADMIN, "content-type": "application/json"}
    started = time.monotonic()
    r = await api.client.post(path, content=raw, headers=headers)
    assert r.status_code == 400, r.text
    assert time.monotonic() - started < 3.0  # no durable call was waited on (that takes far longer)
    body: dict[str, Any] = r.json()
    assert body["error"] == "Validation failed" and body["details"], body
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("registrationEnd", "1e20"),
        ("registrationEnd", "100000000000000000000"),
        ("registrationEnd", HUGE),
        ("registrationStart", "-1"),
        ("inventory", HUGE),
        ("purchaseWindow", "1e30"),
        ("ticketPriceUnit", "1e400"),
        ("ticketPriceUnit", "NaN"),
        ("backupMultiplier", "Infinity"),
        ("geoFenceBonusMultiplier", HUGE),
    ],
)
async def test_overflowing_drop_numbers_are_400_and_the_id_stays_usable(
    api: DropApi, field: str, value: str
) -> None:
    drop_id = uid("big")
    body = drop_body(drop_id)
    raw = _with_raw(body, field, value)
    answer = await refused(api, "/api/drops", raw)
    assert any(d["path"] == field for d in answer["details"]), answer
    # Nothing reached the durable layer: the same id can be created normally at once.
    created = await api.create(drop_id)
    assert created["dropId"] == drop_id


async def test_timestamps_must_be_within_ten_years(api: DropApi) -> None:
    eleven_years = 11 * 366 * 86_400_000
    for field, value in (
        ("registrationEnd", now_ms() + eleven_years),
        ("registrationStart", now_ms() - eleven_years),
    ):
        body = drop_body(uid("far"), **{field: value})
        r = await api.client.post("/api/drops", json=body, headers=ADMIN)
        assert r.status_code == 400, r.text
        assert "10 years" in r.text


@pytest.mark.parametrize(
    "fence",
    [
        '{"type":"radius","center":{"lat":1,"lng":2},"radiusMeters":@}'.replace("@", HUGE),
        '{"type":"radius","center":{"lat":1,"lng":2},"radiusMeters":1e400}',
        '{"type":"radius","center":{"lat":1,"lng":2},"radiusMeters":20000000}',
        '{"type":"radius","center":{"lat":1,"lng":2},"radiusMeters":50}',
        '{"type":"radius","center":{"lat":91,"lng":2},"radiusMeters":500}',
        '{"type":"polygon","vertices":[{"lat":1,"lng":2},{"lat":1,"lng":3},{"lat":1e400,"lng":2}]}',
        '{"type":"square"}',
    ],
)
async def test_geo_fences_out_of_range_are_400(api: DropApi, fence: str) -> None:
    drop_id = uid("geo")
    raw = _with_raw(drop_body(drop_id, geoFenceMode="bonus"), "geoFence", fence)
    answer = await refused(api, "/api/drops", raw)
    assert answer["details"][0]["path"] == "geoFence"
    assert (await api.client.get(f"/api/drop/{drop_id}/status")).status_code == 404


async def test_a_fence_inside_the_spec_range_is_kept(api: DropApi) -> None:
    fence = {"type": "radius", "center": {"lat": 52.5, "lng": 13.4}, "radiusMeters": 5000}
    drop_id = uid("geo-ok")
    await api.create(drop_id, geoFence=fence, geoFenceMode="bonus")
    assert (await api.status(drop_id))["geoFence"]["radiusMeters"] == 5000


async def test_a_fence_keeps_only_what_the_domain_reads(api: DropApi) -> None:
    """Unknown fields of a fence are dropped, not stored and published (a deep one used to
    fail the drop's creation with 502 when it was written back out)."""
    deep = "[" * 300 + "]" * 300
    fence = '{"type": "radius", "center": {"lat": 1, "lng": 2}, "radiusMeters": 1000, "x": %s}'
    drop_id = uid("geo-x")
    raw = _with_raw(drop_body(drop_id, geoFenceMode="bonus"), "geoFence", fence % deep)
    headers = {**ADMIN, "content-type": "application/json"}
    r = await api.client.post("/api/drops", content=raw, headers=headers)
    assert r.status_code == 201, r.text
    kept = (await api.status(drop_id))["geoFence"]
    assert kept == {"type": "radius", "center": {"lat": 1, "lng": 2}, "radiusMeters": 1000}


async def test_json_nested_too_deep_for_the_parser_is_400(api: DropApi) -> None:
    drop_id = uid("deep")
    await api.create(drop_id)
    deep = "[" * 5000 + "]" * 5000
    for path in (f"/api/drop/{drop_id}/register", f"/api/queue/{drop_id}/join"):
        r = await api.client.post(path, content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert r.json()["error"]
    assert (await api.status(drop_id))["participantCount"] == 0


async def test_a_body_the_server_cannot_read_is_400(api: DropApi) -> None:
    """Chunked transfer with no chunk framing: the server cannot read the body, and the
    client, still there, is told so (the hot routes used to return without answering)."""
    drop_id = uid("chunk")
    await api.create(drop_id)
    url = httpx.URL(str(api.client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            (
                f"POST /api/drop/{drop_id}/register HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\nContent-Type: application/json\r\n"
                'Transfer-Encoding: chunked\r\n\r\n{"userId":"u1","tickets":1}'
            ).encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"application/json" in head.lower() and b'"error"' in payload, answer


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        (HUGE, "timingMs"),
        ("1e30", "timingMs"),
        ("86400001", "timingMs"),
    ],
)
async def test_registration_numbers_are_bounded(api: DropApi, timing: str, field: str) -> None:
    drop_id = uid("reg")
    await api.create(drop_id)
    bot = {
        "fingerprint": "f",
        "fingerprintConfidence": 0.9,
        "timingMs": 0,
        "powSolution": "1",
        "powChallenge": "1:" + "0" * 32,
    }
    bot_raw = _with_raw(bot, "timingMs", timing)
    raw = _with_raw({"userId": uid("u"), "tickets": 1}, "botValidation", bot_raw)
    answer = await refused(api, f"/api/drop/{drop_id}/register", raw)
    assert any(d["path"].endswith(field) for d in answer["details"]), answer
    point = _with_raw({"lat": 0, "lng": 0}, "lat", HUGE)
    location = _with_raw({"userId": uid("u"), "tickets": 1}, "location", point)
    await refused(api, f"/api/drop/{drop_id}/register", location)
    assert (await api.status(drop_id))["participantCount"] == 0


# --- ids are matched whole -------------------------------------------------------------


async def test_an_id_with_a_trailing_newline_is_refused_by_the_api(api: DropApi) -> None:
    drop_id = uid("nl")
    await api.create(drop_id)
    for path in (
        f"/api/drop/{drop_id}%0A/status",
        f"/api/drop/{drop_id}%0A/lottery-proof",
        f"/api/drop/{drop_id}/inclusion-proof/user%0A",
        "/api/drop/rollover/user%0A",
    ):
        r = await api.client.get(path)
        assert r.status_code in (400, 404), (path, r.status_code, r.text)
        assert r.json()["error"]
    body = {"userId": "user\n", "tickets": 1}
    r = await api.client.post(f"/api/drop/{drop_id}/register", json=body)
    assert r.status_code == 400 and r.json()["details"][0]["path"] == "userId"
    r = await api.client.post("/api/drops", json=drop_body(f"{drop_id}x\n"), headers=ADMIN)
    assert r.status_code == 400 and r.json()["details"][0]["path"] == "dropId"


async def test_an_id_with_a_trailing_newline_is_a_404_page(stack: Stack, api: DropApi) -> None:
    drop_id = uid("nl")
    await api.create(drop_id)
    stack.start_app("sse")
    web = stack.start_app("web")
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        assert (await client.get(f"/drop/{drop_id}")).status_code == 200
        page = await client.get(f"/drop/{drop_id}%0A")
        assert page.status_code == 404 and "No such drop" in page.text
    async with httpx.AsyncClient(base_url=stack.url("sse"), timeout=10) as client:
        for path in (f"/events/{drop_id}%0A/u", f"/events/{drop_id}/u%0A", "/events/queue/d/t%0A"):
            r = await client.get(path)
            assert r.status_code == 400, (path, r.text)


def _with_raw(body: dict[str, Any], field: str, raw_value: str) -> str:
    """The body as JSON with one field's value written verbatim (JSON has no 10**400 type)."""
    marker = "__RAW__"
    return json.dumps({**body, field: marker}).replace(f'"{marker}"', raw_value)
