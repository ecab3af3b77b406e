"""fly/bootstrap.py (compose's setup job) against a fake restate admin API and a fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from .support import FLY


@dataclass
class FakeServer:
    """Answers POSTs with 503 `fail_first` times, then 201; records what it got."""

    url: str = ""
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            state.received.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("authorization"),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            failing = len(state.received) <= state.fail_first
            self.send_response(503 if failing else 201)
            self.send_header("content-type", "application/json")
            self.end_headers()
            answer = {"message": "not ready"} if failing else {"services": [{"name": "Drop"}]}
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def bootstrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FLY / "bootstrap.py"), *args, "--delay", "0", "--tries", "5"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_registers_the_worker_retrying_until_restate_answers(fake_server: FakeServer) -> None:
    fake_server.fail_first = 2
    result = bootstrap(
        "register-worker", "--admin-url", fake_server.url, "--worker-url", "http://worker:9080"
    )
    assert result.returncode == 0, result.stderr
    assert len(fake_server.received) == 3
    last = fake_server.received[-1]
    assert last["path"] == "/deployments"
    assert last["body"] == {"uri": "http://worker:9080", "force": True}
    assert "Drop" in result.stdout


def test_gives_up_with_restates_message(fake_server: FakeServer) -> None:
    fake_server.fail_first = 99
    result = bootstrap(
        "register-worker", "--admin-url", fake_server.url, "--worker-url", "http://w"
    )
    assert result.returncode == 1
    assert "HTTP 503" in result.stderr and "not ready" in result.stderr


def test_all_registers_then_seeds_a_demo_drop_as_admin(fake_server: FakeServer) -> None:
    result = bootstrap(
        "all",
        f"--admin-url={fake_server.url}",
        "--worker-url=http://worker:9080",
        f"--api-url={fake_server.url}",
        ADMIN_SECRET="local-admin",
    )
    assert result.returncode == 0, result.stderr
    register, seed = fake_server.received
    assert register["path"] == "/deployments"
    assert seed["path"] == "/api/drops"
    assert seed["auth"] == "Bearer local-admin"
    body = seed["body"]
    assert set(body) == {
        "dropId",
        "productName",
        "imageUrl",
        "inventory",
        "registrationStart",
        "registrationEnd",
        "purchaseWindow",
    }
    assert body["dropId"].startswith("demo-")
    assert body["inventory"] > 0 and body["purchaseWindow"] > 0
    assert body["registrationEnd"] > body["registrationStart"]


def test_seeding_without_the_admin_secret_is_refused(fake_server: FakeServer) -> None:
    result = bootstrap("seed-drop", "--api-url", fake_server.url, ADMIN_SECRET="")
    assert result.returncode == 1
    assert "ADMIN_SECRET" in result.stderr
    assert fake_server.received == []
