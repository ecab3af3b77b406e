"""What the crowd and proof benchmarks share: a private stack (one node, or the local
cluster), its processes' peak memory, the machine's load, and the floors measured with wrk."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import wrk_run
from devtools.clusterstack import Cluster
from drop import durable
from drop.adapters.restate_ingress import ingress_path
from tests.support.stack import Stack

ADMIN = {"Authorization": "Bearer test-admin-secret"}

# A running stack: both keep their processes in `procs` and their logs under `log(name)`.
Running = Stack | Cluster

# What tests/support/stack.py gives every single-node app, for the cluster's apps.
CLUSTER_ENV = {
    "DROP_ENV": "test",
    "ADMIN_SECRET": "test-admin-secret",
    "PURCHASE_TOKEN_SECRET": "test-purchase-secret",
    "IP_HASH_SALT": "test-salt",
    "MIN_PURCHASE_WINDOW": "1",
    "LOG_LEVEL": "WARNING",
}


def start(root: Path, env: dict[str, str], apps: tuple[str, ...], *, smtp: bool = False) -> Stack:
    """nats-server, restate-server and `apps` on free ports, with `env` over the test
    defaults (tests/support/stack.py); with `smtp`, the local SMTP server too, and mail on."""
    stack = Stack(root, extra_env={"LOG_LEVEL": "WARNING", **env})
    stack.start_servers()
    if smtp:
        stack.start_smtp()
    for app in apps:
        stack.start_app(app)
    return stack


def start_cluster(root: Path, env: dict[str, str]) -> Cluster:
    """`make cluster`'s processes (devtools/clusterstack.py, its test beacon included) on
    127.0.0.1 without namespaces, on free ports, with `env` over the test settings."""
    cluster = Cluster(
        root, env={**CLUSTER_ENV, "RECEIPT_SIGNING_KEY": secrets.token_hex(32), **env}
    )
    cluster.start()  # stops every process it started when it fails
    return cluster


def ingress(stack: Running) -> str:
    """One Restate ingress: the only one of a single node, the first node of a cluster (the
    apps spread their calls over all of them)."""
    return stack.ingress_url.split(",")[0]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss(stack: Running) -> dict[str, list[tuple[int, int]]]:
    """Each process's peak resident set (VmHWM, KiB), with its descendants (granian's
    worker processes), as (pid, KiB) pairs: the root first."""
    tree = _children()
    found: dict[str, list[tuple[int, int]]] = {}
    for name, proc in stack.procs.items():
        if proc.popen is None:
            continue
        todo, seen = [proc.popen.pid], []
        while todo:
            pid = todo.pop(0)
            seen.append((pid, _hwm_kib(pid)))
            todo += tree.get(pid, [])
        found[name] = seen
    return found


def rss_lines(stack: Running) -> list[str]:
    lines = []
    everything = 0.0
    for name, procs in peak_rss(stack).items():
        total = sum(k for _, k in procs) / 1024
        everything += total
        parts = ", ".join(f"{k / 1024:.0f}" for _, k in procs if k)
        lines.append(f"  {name:<8} {total:8.0f} MiB peak (per process: {parts})")
    lines.append(f"  {'all':<8} {everything:8.0f} MiB (sum of the peaks)")
    return lines


def print_log_tails(stack: Running, lines: int = 25) -> None:
    """What each process said last (the run's directory is removed afterwards)."""
    for name in stack.procs:
        path = stack.log(name)
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            print(f"--- last lines of {name}.log ---")
            print("\n".join(tail))


def log_problems(stack: Running, shown: int = 3) -> list[str]:
    """Warnings and errors each process logged during the run, counted, a few quoted."""
    out = []
    for name in stack.procs:
        path = stack.log(name)
        if not path.exists():
            continue
        bad = [
            ln
            for ln in path.read_text(errors="replace").splitlines()
            if any(w in ln for w in ("ERROR", "Traceback", "WARN", "panic"))
            and "load tests only" not in ln
        ]
        if bad:
            out.append(f"  {name}: {len(bad)} warning/error lines, e.g.")
            out += [f"    {ln[:300]}" for ln in dict.fromkeys(bad[:50])][:shown]
    return out or ["  none"]


def keep_logs(stack: Running, name: str) -> Path:
    """Copy the processes' logs out of the run's directory (removed afterwards)."""
    dest = Path(tempfile.gettempdir()) / f"{name}-logs-{int(time.time())}"
    dest.mkdir(parents=True, exist_ok=True)
    for proc in stack.procs:
        if stack.log(proc).exists():
            shutil.copy(stack.log(proc), dest / f"{proc}.log")
    return dest


@contextmanager
def reported(stack: Running, name: str | None) -> Iterator[None]:
    """Run a measurement on `stack`, then report its logs (kept under `name`, unless None)
    and memory and stop it; a failure also prints each process's last log lines first."""
    try:
        yield
    except BaseException:
        print_log_tails(stack)
        raise
    finally:
        print("warnings and errors in the processes' logs:")
        print("\n".join(log_problems(stack)))
        if name is not None:
            print(f"  logs kept in {keep_logs(stack, name)}")
        print("peak resident memory (VmHWM):")
        print("\n".join(rss_lines(stack)))
        stack.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes `pids` have used so far (gone ones: 0)."""
    return _cpu_ticks(pids) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def cpu_by_name(stack: Running, names: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds used so far by each of `names` (with its children)."""
    tree = peak_rss(stack)
    return {name: cpu_seconds([pid for pid, _ in tree.get(name, [])]) for name in names}


def wait_quiet(stack: Running, names: tuple[str, ...], timeout_s: float) -> float:
    """Seconds until `names` (with their children) used under 10% of a core for 3 s in a
    row: background work (an outcome fan-out) is over. Gives up after `timeout_s`."""
    pids = [pid for name in names for pid, _ in peak_rss(stack).get(name, [])]
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    calm = 0
    last = _cpu_ticks(pids)
    while calm < 3 and time.monotonic() - start < timeout_s:
        time.sleep(1)
        now = _cpu_ticks(pids)
        calm = calm + 1 if (now - last) / hz < 0.1 else 0
        last = now
    return time.monotonic() - start


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def floors(stack: Running, api: str, seconds: float) -> tuple[wrk_run.WrkResult, wrk_run.WrkResult]:
    """The API's `/health` and a trivial Restate call (`Diagnostics/ping`), wrk at c=50."""
    health = wrk_run.run("floor: GET /health (c=50)", f"{api}/health", seconds=seconds)
    ping = wrk_run.run(
        "floor: Restate Diagnostics/ping (c=50)",
        f"{ingress(stack)}{ingress_path(durable.DIAG_PING)}",
        script=wrk_run.POST_EMPTY,
        seconds=seconds,
    )
    return health, ping


def create_drop(
    api: str,
    drop_id: str,
    *,
    inventory: int = 100,
    open_for_s: int = 3600,
    purchase_window_s: int = 600,
) -> dict[str, object]:
    now = int(time.time() * 1000)
    body = {
        "dropId": drop_id,
        "inventory": inventory,
        "registrationStart": now,
        "registrationEnd": now + open_for_s * 1000,
        "purchaseWindow": purchase_window_s,
    }
    # A stack just started can answer 503 with Retry-After for a moment (seen twice, right
    # after a cluster suite); a client retries those, and so does the bench, saying why.
    for _ in range(15):
        r = httpx.post(f"{api}/api/drops", json=body, headers=ADMIN, timeout=60)
        if r.status_code != 503:
            break
        print(f"  creating {drop_id}: 503 {r.text[:200]}; trying again", flush=True)
        time.sleep(float(r.headers.get("retry-after", "2")))
    r.raise_for_status()
    # Every API process learns of the drop from NATS; wait until status reads find it
    # several times in a row (a balancer sends them to each replica in turn).
    found = 0
    for _ in range(200):
        ok = httpx.get(f"{api}/api/drop/{drop_id}/status", timeout=10).status_code == 200
        found = found + 1 if ok else 0
        if found >= 4:
            break
        time.sleep(0.05)
    answer: dict[str, object] = r.json()
    return answer


def ratio(name: str, value: float, floor: float, factor: float, absolute: float | None) -> str:
    """`value` against `factor` x `floor` (and an absolute goal when given)."""
    met = value >= factor * floor and (absolute is None or value >= absolute)
    goal = f">= {factor}x" + (f" and >= {absolute:.0f}/s" if absolute is not None else "")
    return (
        f"  {name:<42} {value / floor if floor else 0:6.2f}x of floor "
        f"({value:.0f} vs {floor:.0f}/s; goal {goal}): {'met' if met else 'NOT met'}"
    )
