"""Webhook signing against the reference library, the address rule, and how published
events turn into webhook events."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from drop.adapters import http_pool
from drop.webhooks import addresses, catalog, signing
from drop.webhooks.http import CONNECTIONS_PER_ENDPOINT, Poster


def test_signatures_verify_with_standardwebhooks() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = json.dumps({"type": "drop.drawn", "data": {"dropId": "d1"}}).encode()
    now = int(time.time())
    headers = signing.headers(secret, "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    # Another body, id, timestamp or secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    stale = signing.headers(secret, "msg_1", now - 3600, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_signature_matches_the_reference_bytes() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    ours = signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert ours == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    when = datetime.fromtimestamp(1614265330, UTC)
    assert ours == Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", when, body)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not a public"),
    ],
)
def test_internal_addresses_are_refused(address: str, kind: str) -> None:
    reason = addresses.refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


def test_public_addresses_pass() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"):
        assert addresses.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "http"),
        ("example.com/hook", "http"),
        ("http:///hook", "no host"),
        ("http://example.com:99999/", "malformed"),
    ],
)
def test_bad_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(addresses.AddressRefused, match=why):
        addresses.url_host(url)


async def test_names_resolving_inside_are_refused_unless_allowed() -> None:
    with pytest.raises(addresses.AddressRefused, match="loopback"):
        await addresses.check_url("http://localhost:8000/hook", allow_private=False)
    with pytest.raises(addresses.AddressRefused, match="private"):
        await addresses.check_url("https://10.0.0.5/hook", allow_private=False)
    await addresses.check_url("http://127.0.0.1:8000/hook", allow_private=True)


def _snapshot(phase: str, participants: int, **more: object) -> dict[str, object]:
    return {
        "id": "x",
        "type": "drop_state",
        "at": 1_700_000_000_000,
        "data": {
            "dropId": "d1",
            "phase": phase,
            "participantCount": participants,
            "initialInventory": 5,
            "inventory": 5,
            **more,
        },
    }


def test_snapshots_reveal_each_drop_event_under_one_key() -> None:
    site = "https://drops.example"
    created = catalog.from_event("drop.d1.state", _snapshot("registration", 0), site)
    assert [h.type for h in created] == ["drop.created"]
    assert created[0].data["url"] == "https://drops.example/drop/d1"
    assert catalog.from_event("drop.d1.state", _snapshot("registration", 3), site) == []
    drawn = catalog.from_event("drop.d1.state", _snapshot("purchase", 3), site)
    assert [h.type for h in drawn] == ["drop.registration_closed", "drop.drawn"]
    assert drawn[1].data["proofUrl"] == "https://drops.example/api/drop/d1/lottery-proof"
    later = catalog.from_event("drop.d1.state", _snapshot("completed", 3, inventory=2), site)
    assert [h.type for h in later] == [
        "drop.registration_closed",
        "drop.drawn",
        "drop.completed",
    ]
    assert later[2].data["sold"] == 3
    # The same thing seen in a later snapshot keeps its key, so its webhook-id.
    assert drawn[1].key == later[1].key
    assert catalog.delivery_id("ep", drawn[1].key) == catalog.delivery_id("ep", later[1].key)
    assert catalog.delivery_id("ep", drawn[1].key) != catalog.delivery_id("ep2", drawn[1].key)


@pytest.mark.parametrize(
    ("status", "extra", "kind"),
    [
        ("winner", {"promoted": False, "deadline": 5}, "winner.selected"),
        ("winner", {"promoted": True, "deadline": 5}, "backup.promoted"),
        ("expired", {}, "winner.lapsed"),
        ("purchased", {}, "order.completed"),
        ("loser", {}, None),
        ("registered", {}, None),
        ("backup_winner", {}, None),
    ],
)
def test_statuses_reveal_user_events(status: str, extra: dict[str, object], kind: str) -> None:
    envelope = {"at": 1, "data": {"dropId": "d1", "userId": "u1", "status": status, **extra}}
    found = catalog.from_event("drop.d1.user.u1", envelope, "http://x")
    assert [h.type for h in found] == ([kind] if kind else [])
    if kind:
        assert found[0].data["userId"] == "u1"
        assert found[0].body()["type"] == kind


# --- one attempt over real sockets ----------------------------------------------------------


async def _serve_once(answer: bytes, hang: asyncio.Event | None = None) -> tuple[int, list[bytes]]:
    """A server on 127.0.0.1 answering every request with `answer` (after `hang` is set,
    when given); returns its port and the requests' heads as they arrive."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            if hang is not None:
                await hang.wait()
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], heads


async def test_an_attempt_to_an_inside_address_never_connects() -> None:
    port, heads = await _serve_once(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    strict = Poster(allow_private=False, timeout_s=5)
    refused = await strict.post("ep", f"http://127.0.0.1:{port}/h", b"{}", {})
    assert refused.status is None and "loopback" in refused.error
    # A name that resolves inside is refused at connection time too (DNS rebinding).
    renamed = await strict.post("ep", f"http://localhost:{port}/h", b"{}", {})
    assert renamed.status is None and "loopback" in renamed.error
    assert heads == []
    allowed = await Poster(allow_private=True, timeout_s=5).post(
        "ep", f"http://127.0.0.1:{port}/h", b"{}", {"webhook-id": "msg_1"}
    )
    assert allowed.ok and allowed.status == 204
    assert b"webhook-id: msg_1" in heads[0]


async def test_a_huge_answer_is_read_no_further_than_a_few_kib() -> None:
    body = b"x" * (64 * 1024 * 1024)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    port, _ = await _serve_once(answer)
    started_at = time.monotonic()
    got = await Poster(allow_private=True, timeout_s=5).post(
        "ep", f"http://127.0.0.1:{port}/h", b"{}", {}
    )
    assert got.ok and time.monotonic() - started_at < 2


async def test_a_hanging_endpoint_costs_one_timeout() -> None:
    release = asyncio.Event()
    port, heads = await _serve_once(b"HTTP/1.1 204 No Content\r\n\r\n", hang=release)
    started_at = time.monotonic()
    got = await Poster(allow_private=True, timeout_s=0.5).post(
        "ep", f"http://127.0.0.1:{port}/h", b"{}", {}
    )
    took = time.monotonic() - started_at
    release.set()
    assert got.status is None and "no answer within 0.5s" in got.error
    assert len(heads) == 1 and 0.5 <= took < 2


async def test_attempts_given_up_on_a_hung_endpoint_leave_every_connection_for_later() -> None:
    release = asyncio.Event()
    answer = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    port, heads = await _serve_once(answer, hang=release)
    poster = Poster(allow_private=True, timeout_s=0.5)
    url = f"http://127.0.0.1:{port}/h"
    hung = await asyncio.gather(*(poster.post("ep", url, b"{}", {}) for _ in range(12)))
    assert all(a.status is None for a in hung), hung
    release.set()
    await http_pool.settle()
    # The endpoint answers again: every one of its connections can carry an attempt at once.
    later = await asyncio.gather(
        *(poster.post("ep", url, b"{}", {}) for _ in range(CONNECTIONS_PER_ENDPOINT))
    )
    assert [a.status for a in later] == [204] * CONNECTIONS_PER_ENDPOINT
    assert len(heads) == 12 + CONNECTIONS_PER_ENDPOINT
    await poster.close()
