"""`make dev`'s runner: the whole stack up, a demo drop seeded, URLs printed, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drop import devstack

pytestmark = pytest.mark.integration

ROOT = devstack.ROOT


def dev_env(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NATS_URL": f"nats://127.0.0.1:{ports['nats']}",
            "NATS_MONITOR_PORT": str(ports["monitor"]),
            "RESTATE_INGRESS_URL": f"http://127.0.0.1:{ports['ingress']}",
            "RESTATE_ADMIN_URL": f"http://127.0.0.1:{ports['admin']}",
            "RESTATE_NODE_PORT": str(ports["node"]),
            "WORKER_URL": f"http://127.0.0.1:{ports['worker']}",
            "INTERNAL_API_URL": f"http://127.0.0.1:{ports['api']}",
            "INTERNAL_SSE_URL": f"http://127.0.0.1:{ports['sse']}",
            "WEB_PORT": str(ports["web"]),
            "DEV_DATA_DIR": str(tmp_path / "data"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never printed; got:\n{''.join(lines[-30:])}")


def test_dev_brings_the_stack_up_seeds_a_drop_and_stops_cleanly(tmp_path: Path) -> None:
    names = ("nats", "monitor", "ingress", "admin", "node", "worker", "api", "sse", "web")
    ports = {name: devstack.free_port() for name in names}
    proc = subprocess.Popen(
        [sys.executable, "scripts/dev.py"],
        cwd=ROOT,
        env=dev_env(tmp_path, ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        lines = read_until(proc, "Ctrl-C stops everything", 120)
        text = "".join(lines)
        assert f"http://localhost:{ports['web']}/" in text
        assert f"nats://localhost:{ports['nats']}" in text
        assert f"http://localhost:{ports['ingress']}" in text
        metrics_line = next(line for line in lines if "metrics " in line)
        for name in ("api", "sse", "web", "worker"):
            url = f"http://127.0.0.1:{ports[name]}/metrics"
            assert url.replace("127.0.0.1", "localhost") in metrics_line
            scraped = httpx.get(url, timeout=10)
            assert scraped.status_code == 200 and "# TYPE" in scraped.text, name
        demo = next(line for line in lines if "demo drop" in line).split()[-1]
        assert demo.startswith(f"http://localhost:{ports['web']}/drop/demo-")
        page = httpx.get(demo.replace("localhost", "127.0.0.1"), timeout=10)
        assert page.status_code == 200 and "Aurora Shell Jacket" in page.text

        again = subprocess.run(
            [sys.executable, "scripts/dev.py"],
            cwd=ROOT,
            env=dev_env(tmp_path, ports),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert again.returncode == 1
        assert "port already in use" in again.stderr and f"({ports['api']})" in again.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0
    for port in ports.values():
        assert not devstack.port_in_use(port), f"port {port} still served after Ctrl-C"
