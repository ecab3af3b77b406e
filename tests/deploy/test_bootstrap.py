"""fly/bootstrap.py (compose's setup job): against a fake restate admin API and a fake API,
standalone the way compose mounts it, and against a real restate-server and worker builds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from drop import deployments
from tests.support.stack import Stack

from .support import FLY, ROOT


@dataclass
class FakeServer:
    """Restate's admin API and the drops API in one: POSTs answer 503 `fail_first` times,
    then 201; `GET /deployments` lists `listed`, `POST /query` finds nothing pinned."""

    url: str = ""
    fail_first: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: dict[str, Any]) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_GET(self) -> None:
            state.received.append({"method": "GET", "path": self.path})
            self.answer(200, {"deployments": state.listed})

        def do_DELETE(self) -> None:
            state.received.append({"method": "DELETE", "path": self.path})
            self.answer(202, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length))
            state.received.append(
                {
                    "method": "POST",
                    "path": self.path,
                    "auth": self.headers.get("authorization"),
                    "body": body,
                }
            )
            if self.path == "/query":
                self.answer(200, {"rows": []})
                return
            posts = [r for r in state.received if r["method"] == "POST" and r["path"] != "/query"]
            if len(posts) <= state.fail_first:
                self.answer(503, {"message": "not ready"})
                return
            if self.path == "/deployments":
                services = [{"name": "Drop"}]
                state.listed.append({"id": "dp_new", "uri": body["uri"], "services": services})
                self.answer(201, {"id": "dp_new", "services": services})
                return
            self.answer(201, {})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def bootstrap(
    *args: str, script: Path = FLY / "bootstrap.py", python: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(python or (sys.executable,)), str(script), *args, "--delay", "0", "--tries", "5"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_registers_the_build_at_its_versioned_url_without_force(fake_server: FakeServer) -> None:
    fake_server.fail_first = 2
    result = bootstrap(
        "register-worker",
        "--admin-url",
        fake_server.url,
        "--worker-url",
        "http://worker:9080",
        WORKER_VERSION="b7",
    )
    assert result.returncode == 0, result.stderr
    registrations = [r for r in fake_server.received if r["path"] == "/deployments"]
    assert [r["method"] for r in registrations] == ["POST", "POST", "POST", "GET"]
    assert registrations[-2]["body"] == {"uri": "http://worker:9080/v/b7"}
    assert "http://worker:9080/v/b7" in result.stdout and "dp_new" in result.stdout


def test_retires_the_older_builds_restate_reports_drained(fake_server: FakeServer) -> None:
    # What compose registered before builds were versioned: the worker's root, forced.
    fake_server.listed = [{"id": "dp_root", "uri": "http://worker:9080", "services": []}]
    result = bootstrap(
        "register-worker",
        f"--admin-url={fake_server.url}",
        "--worker-url=http://worker:9080",
        "--worker-version=2",
    )
    assert result.returncode == 0, result.stderr
    deletes = [r["path"] for r in fake_server.received if r["method"] == "DELETE"]
    assert deletes == ["/deployments/dp_root?force=true"]
    assert "dp_root" in result.stdout


def test_a_version_is_required_and_checked(fake_server: FakeServer) -> None:
    args = ("register-worker", "--admin-url", fake_server.url, "--worker-url", "http://w")
    missing = bootstrap(*args, WORKER_VERSION="")
    assert missing.returncode == 1 and "WORKER_VERSION" in missing.stderr
    bad = bootstrap(*args, "--worker-version", "a/b")
    assert bad.returncode == 1 and "worker version" in bad.stderr
    assert fake_server.received == []


def test_gives_up_with_restates_message(fake_server: FakeServer) -> None:
    fake_server.fail_first = 99
    result = bootstrap(
        "register-worker",
        "--admin-url",
        fake_server.url,
        "--worker-url",
        "http://w",
        WORKER_VERSION="1",
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
        WORKER_VERSION="1",
    )
    assert result.returncode == 0, result.stderr
    posts = [r for r in fake_server.received if r["method"] == "POST" and r["path"] != "/query"]
    register, seed = posts
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


@pytest.mark.parametrize("job", ["setup", "cluster-setup"])
def test_runs_standalone_from_composes_mounts(
    job: str, fake_server: FakeServer, tmp_path: Path
) -> None:
    # Exactly the files compose mounts, where it mounts them, and a Python that sees no
    # site-packages and not the repository: what a bare python:3.11-slim container has.
    setup = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][job]
    for mount in setup["volumes"]:
        source, target, _ = mount.split(":")
        copy = tmp_path / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / source, copy)
    script = tmp_path / setup["command"][1].lstrip("/")
    result = bootstrap(
        "register-worker",
        f"--admin-url={fake_server.url}",
        "--worker-url=http://worker:9080",
        script=script,
        python=(sys.executable, "-I", "-S"),
        WORKER_VERSION="1",
    )
    assert result.returncode == 0, result.stderr
    assert fake_server.listed[-1]["uri"].startswith("http://worker:9080/v/")


def register(stack: Stack, worker_url: str, version: str) -> subprocess.CompletedProcess[str]:
    """Compose's `setup` job against a real restate-server."""
    return bootstrap(
        "register-worker",
        f"--admin-url={stack.admin_url}",
        f"--worker-url={worker_url}",
        WORKER_VERSION=version,
    )


@pytest.mark.integration
def test_upgrades_a_real_restate_one_immutable_build_at_a_time(own_stack: Stack) -> None:
    stack = own_stack
    admin = deployments.http_admin(stack.admin_url)
    v1 = stack.start_worker_build("c1")
    # Before: compose's old registration of the worker's root URL, forced.
    admin("POST", "/deployments", {"uri": v1, "force": True})

    first = register(stack, v1, "c1")
    assert first.returncode == 0, first.stderr
    assert [d.uri for d in deployments.deployments(admin)] == [f"{v1}/v/c1"]
    (c1,) = deployments.deployments(admin)
    assert "Drop" in c1.services

    again = register(stack, v1, "c1")
    assert again.returncode == 0, again.stderr
    assert deployments.deployments(admin) == [c1]  # a rerun changes nothing

    v2 = stack.start_worker_build("c2")
    second = register(stack, v2, "c2")
    assert second.returncode == 0, second.stderr
    assert [d.uri for d in deployments.deployments(admin)] == [f"{v2}/v/c2"]
    assert c1.id in second.stdout
