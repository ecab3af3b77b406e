"""HAProxy (Debian's package) in front of the api and sse replicas of a local cluster.

It checks each replica's /health twice a second and sends new connections only to live
ones; a request whose connection to a replica failed is sent to the other (connection
failures only: a request that reached a replica is never repeated by the balancer).
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.devstack import Proc, StackError, base_env


def find() -> str:
    found = shutil.which("haproxy")
    if found is None:
        raise StackError("haproxy not found: apt-get install haproxy (make cluster does it)")
    return found


def config(
    frontends: Mapping[str, tuple[int, Sequence[int]]],
    host: str = "127.0.0.1",
    stats_socket: Path | None = None,
) -> str:
    """One HTTP frontend per name, listening on its port, balancing over its backends;
    with `stats_socket`, a local socket that tells which servers HAProxy sees up."""
    lines = [
        "global",
        "  maxconn 8000",
        *([f"  stats socket {stats_socket} level user"] if stats_socket else []),
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 1h",
        "  timeout server 1h",
        # Event streams stay open for as long as the browser keeps them.
        "  timeout tunnel 1h",
        "  option redispatch",
        "  retries 2",
        "  retry-on conn-failure",
    ]
    for name, (port, backends) in frontends.items():
        lines += [
            f"frontend {name}",
            f"  bind {host}:{port}",
            f"  default_backend {name}_replicas",
            f"backend {name}_replicas",
            # Streams are long: balance them by open connections, calls by turns.
            f"  balance {'leastconn' if name == 'sse' else 'roundrobin'}",
            "  option httpchk GET /health",
            "  default-server check inter 500ms fall 2 rise 1",
        ]
        lines += [f"  server {name}{i} {host}:{p}" for i, p in enumerate(backends, start=1)]
    return "\n".join(lines) + "\n"


def proc(config_path: Path, text: str, log_path: Path | None) -> Proc:
    config_path.write_text(text)
    check = subprocess.run([find(), "-c", "-f", str(config_path)], capture_output=True)
    if check.returncode != 0:
        raise StackError(f"haproxy config refused: {check.stderr.decode(errors='replace')}")
    return Proc("haproxy", [find(), "-db", "-f", str(config_path)], base_env(), log_path)


def servers_up(stats_socket: Path) -> set[str]:
    """The servers HAProxy's own checks currently see up (`show stat` on its socket); none
    while it is not listening yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(stats_socket))
            sock.sendall(b"show stat\n")
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
    except OSError:
        return set()
    rows = csv.DictReader(answer.decode(errors="replace").lstrip("# ").splitlines())
    return {
        row["svname"]
        for row in rows
        if row.get("svname") not in ("FRONTEND", "BACKEND") and row.get("status") == "UP"
    }
