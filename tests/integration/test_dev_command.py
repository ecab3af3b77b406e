"""`make dev`'s runner: the whole stack up, a demo drop seeded, URLs printed, clean Ctrl-C."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from devtools import devstack

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
            "NOTIFICATIONS_WORKER_PORT": str(ports["notify"]),
            "INTERNAL_API_URL": f"http://127.0.0.1:{ports['api']}",
            "INTERNAL_SSE_URL": f"http://127.0.0.1:{ports['sse']}",
            "WEB_PORT": str(ports["web"]),
            # Its own beacon port too: two runs (or another checkout's) never share one.
            "DEV_BEACON_PORT": str(ports["beacon"]),
            "DEV_SMTP_PORT": str(ports["smtp"]),
            "DEV_METRICS_PORT_BASE": str(ports["metrics"]),
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


METRICS_OFFSETS = {"web": 0, "worker": 1, "notify": 2, "api": 3, "sse": 4}


def metrics_base(taken: set[int]) -> int:
    """A base for DEV_METRICS_PORT_BASE whose five ports are all free and not in `taken`.
    Below the kernel's ephemeral range: the neighbours of a port the kernel just handed out
    are the ones it hands to the stack's next outgoing connections."""
    while True:
        base = random.randrange(20000, 32000)
        span = range(base, base + 5)
        if not taken & set(span) and not any(devstack.port_in_use(p) for p in span):
            return base


def start_dev(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    names = (
        "nats",
        "monitor",
        "ingress",
        "admin",
        "node",
        "worker",
        "notify",
        "api",
        "sse",
        "web",
        "beacon",
        "smtp",
    )
    ports = {name: devstack.free_port() for name in names}
    ports["metrics"] = metrics_base(set(ports.values()))
    proc = subprocess.Popen(
        [sys.executable, "scripts/dev.py"],
        cwd=ROOT,
        env=dev_env(tmp_path, ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return proc, ports


def test_dev_brings_the_stack_up_seeds_a_drop_and_stops_cleanly(tmp_path: Path) -> None:
    proc, ports = start_dev(tmp_path)
    try:
        lines = read_until(proc, "Ctrl-C stops everything", 120)
        text = "".join(lines)
        assert f"http://localhost:{ports['web']}/" in text
        assert f"nats://localhost:{ports['nats']}" in text
        assert f"http://localhost:{ports['ingress']}" in text
        # Mail and webhooks are served by a worker of their own, as deployed.
        assert "workers (drops, notifications) registered with restate" in text
        metrics_line = next(line for line in lines if "metrics " in line)
        for name in METRICS_OFFSETS:
            url = f"http://127.0.0.1:{ports['metrics'] + METRICS_OFFSETS[name]}/metrics"
            assert url.replace("127.0.0.1", "localhost") in metrics_line
            scraped = httpx.get(url, timeout=10)
            assert scraped.status_code == 200 and "# TYPE" in scraped.text, name
        demo = next(line for line in lines if "demo drop" in line).split()[-1]
        assert demo.startswith(f"http://localhost:{ports['web']}/drop/demo-")
        page = httpx.get(demo.replace("localhost", "127.0.0.1"), timeout=10)
        assert page.status_code == 200 and "Aurora Shell Jacket" in page.text
        mail_line = next(line for line in lines if "mail " in line and "Maildir" in line)
        assert str(tmp_path / "data" / "mail") in mail_line
        assert devstack.port_in_use(ports["smtp"])

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


def serving(api: str, web: str) -> bool:
    """The api answers with NATS connected, directly and through web's /api proxy."""
    try:
        health = httpx.get(f"{api}/health", timeout=1)
        proxied = httpx.get(f"{web}/api/drops/active", timeout=1)
    except httpx.HTTPError:
        return False
    return (
        health.status_code == 200
        and health.json()["nats"] == "ok"
        and proxied.status_code == 200
        and bool(proxied.json()["drops"])
    )


def test_dev_restarts_a_killed_api_within_five_seconds(tmp_path: Path) -> None:
    proc, ports = start_dev(tmp_path)
    api, web = f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['web']}"
    try:
        lines = read_until(proc, "Ctrl-C stops everything", 120)
        started = re.compile(r"api started \(pid (\d+)\)")
        first = int(next(m for line in lines if (m := started.search(line)))[1])
        assert serving(api, web)
        later: list[str] = []
        restarted = threading.Event()

        def follow() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                later.append(line)
                if started.search(line):
                    restarted.set()

        threading.Thread(target=follow, daemon=True).start()
        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        devstack.wait_until(lambda: not serving(api, web), 5, "the api to go down")
        devstack.wait_until(lambda: serving(api, web), 5, "the stack to serve again")
        recovered = time.monotonic() - killed_at
        print(f"api back in {recovered:.2f}s")
        assert recovered < 5
        assert restarted.wait(1), "".join(later)
        text = "".join(later)
        assert "api exited (code -9); restarting" in text
        second = int(next(m for line in later if (m := started.search(line)))[1])
        assert second != first
        assert proc.poll() is None, "the runner stopped instead of restarting the api"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0


def group_alive(pid: int) -> bool:
    """Each child runs in its own session: its process group outlives it while any of its
    own children (granian's workers) still run."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


# What a shutdown must not print: a traceback, a logged error, or sse's NATS drain failing
# because NATS went first.
SHUTDOWN_TROUBLE = re.compile(r"Traceback|\bERROR\b|Error:|Exception|ConnectionReconnecting")


@pytest.mark.parametrize("signals", [1, 2, 10])
def test_dev_stops_cleanly_on_repeated_ctrl_c(tmp_path: Path, signals: int) -> None:
    proc, _ = start_dev(tmp_path)
    children: dict[str, int] = {}
    try:
        lines = read_until(proc, "Ctrl-C stops everything", 120)
        started = re.compile(r"(\w+) started \(pid (\d+)\)")
        children.update((m[1], int(m[2])) for line in lines if (m := started.search(line)))
        assert set(children) >= {
            *("nats", "restate", "worker", "notify", "api", "sse", "web", "beacon", "smtp")
        }
        began = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=10)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:  # hung: leave nothing behind for the next test
            proc.kill()
            proc.wait()
            for pid in filter(group_alive, children.values()):
                os.killpg(pid, signal.SIGKILL)
    print(f"{signals} SIGINT: stopped in {took:.2f}s")
    assert proc.returncode == 0, rest
    assert took < 10
    assert "dev | stopped" in rest, rest
    trouble = [line for line in rest.splitlines() if SHUTDOWN_TROUBLE.search(line)]
    assert not trouble, rest
    # Stopped in dependency order: the apps, then the beacon and mail, restate, NATS last.
    tiers = [line.split("stopping ", 1)[1].split() for line in rest.splitlines()
             if "dev | stopping " in line]  # fmt: skip
    apps = ["worker", "notify", "api", "sse", "web"]
    assert tiers == [apps, ["beacon", "smtp"], ["restate"], ["nats"]], rest
    left = [name for name, pid in children.items() if group_alive(pid)]
    assert not left, f"still running after the stop: {left}"
