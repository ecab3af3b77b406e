"""Child processes for the local stack: start, wait for, stop and kill them, and find a
free port. Every server and app of `devtools.devstack` runs as one of these."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """A server could not be found or did not come up."""


HANDED_OUT: deque[int] = deque(maxlen=256)


def free_port() -> int:
    """A port free right now. Under pytest-xdist each worker takes only its own share of the
    ports, so two workers' stacks never both pick one in the moment between the pick and the
    server's bind."""
    share, shares = port_share()
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        # Shared by pairs: Linux hands bind() odd ports first. A port handed out a moment
        # ago may not be bound yet: the kernel could offer it again.
        if (port // 2) % shares == share and port not in HANDED_OUT:
            HANDED_OUT.append(port)
            return port


def port_share() -> tuple[int, int]:
    """(this process's share, the number of shares): (n, count) on xdist worker gwN."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    shares = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if not worker.startswith("gw") or shares < 2:
        return 0, 1
    return int(worker[2:]) % shares, shares


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class Proc:
    """One child process, restartable with the same command and environment."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, *, pipe: bool = False) -> Proc:
        out: int | IO[bytes]
        if pipe:
            out = subprocess.PIPE
        else:
            assert self.log_path is not None
            self._log = self.log_path.open("ab")
            out = self._log
        self.popen = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group (a server's worker processes too): the crash
        the durable layer must survive."""
        if self.popen is not None and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def terminate(self) -> None:
        if self.popen is not None and self.alive:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):  # stragglers of a finished server
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> Proc:
        self.stop()
        return self.start()


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env
