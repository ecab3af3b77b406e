"""Benchmark the SSE fan-out: N browsers on one drop, against N plain NATS subscribers.

Run: ``.venv/bin/python -m bench.sse_fanout`` (default N = 1,000 then 10,000).

It starts its own nats-server and one `python -m apps.sse` process on free ports of
127.0.0.1, opens N concurrent `/events/{dropId}/{userId}` streams (one user each) with lean
asyncio sockets, publishes drop-state changes through JetStream and times every delivery
from just before the publish to the moment the client reads the frame. Each change is
published once all streams have the previous one. The sse server's memory per connection
is its resident set size with the N streams open minus before them, divided by N. In the
same run, N core NATS subscriptions (spread over a few connections, as many messages)
give the floor: what merely receiving N copies of each message costs in Python here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import nats
import uvloop

from bench import crowd_stack
from devtools import devstack
from drop import events
from drop.adapters import nats_bus
from drop.adapters.nats_bus import Bus
from drop.contracts import DropState, TicketPricing

DROP_ID = "bench-drop"
VERSION = re.compile(rb'"version":(\d+)')
CONNECT_BATCH = 250
NATS_CONNECTIONS = 8


@dataclass
class Round:
    """Deliveries of one published change, by version."""

    expected: int
    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    complete: list[float] = field(default_factory=list)  # publish to last delivery, per change

    def deliver(self, version: int, at: float) -> None:
        sent = self.sent.get(version)
        if sent is None:
            return
        self.latencies.append(at - sent)
        count = self.counts[version] = self.counts.get(version, 0) + 1
        if count == self.expected:
            self.complete.append(at - sent)
            self.done[version].set()


class SseClient(asyncio.Protocol):
    """One browser, reduced to a socket that finds `drop` frames and their version."""

    __slots__ = ("_buf", "_request", "_round", "connected", "transport")

    def __init__(self, path: str, rnd: Round, connected: asyncio.Future[None]) -> None:
        self._request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self._round = rnd
        self._buf = b""
        self.connected = connected
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        frames = (self._buf + data).split(b"\n\n")
        self._buf = frames.pop()
        for frame in frames:
            if b"event: drop\n" in frame:
                found = VERSION.search(frame)
                if found:
                    self._round.deliver(int(found.group(1)), now)
            elif b"event: user\n" in frame and not self.connected.done():
                self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"stream closed: {exc}"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def drop_state(version: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return DropState(
        drop_id=DROP_ID,
        phase="registration",
        inventory=100,
        initial_inventory=100,
        participant_count=version,
        registration_start=now,
        registration_end=now + 3_600_000,
        purchase_window=600,
        ticket_pricing=TicketPricing(price_unit=1.0, max_tickets=10, costs=[0, 0, 1, 5]),
        lottery_commitment="ab" * 32,
        version=version,
    ).wire()


async def publish(bus: Bus, version: int) -> None:
    envelope = events.Event(
        id=f"{DROP_ID}:state:{version}", type="drop_state", data=drop_state(version)
    )
    await bus.publish(events.drop_state_subject(DROP_ID), envelope.model_dump(), envelope.id)
    if version == 1:
        kv = await bus.kv(events.DROPS_INDEX_BUCKET)
        await kv.put(DROP_ID, envelope.model_dump_json().encode())


async def run_rounds(bus: Bus, rnd: Round, first: int, messages: int, timeout: float) -> None:
    for version in range(first, first + messages):
        rnd.done[version] = asyncio.Event()
        rnd.sent[version] = time.perf_counter()
        await publish(bus, version)
        await asyncio.wait_for(rnd.done[version].wait(), timeout)
        await asyncio.sleep(0.05)


def summary(rnd: Round) -> dict[str, float]:
    ordered = sorted(rnd.latencies)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50_ms": pick(0.50) * 1000,
        "p99_ms": pick(0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "all_delivered_median_ms": statistics.median(rnd.complete) * 1000,
    }


async def sse_run(
    base_port: int, pid: int, bus: Bus, n: int, first: int, messages: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rnd = Round(expected=n)
    before = rss_kib(pid)
    clients: list[SseClient] = []
    started = time.perf_counter()
    for offset in range(0, n, CONNECT_BATCH):
        batch = []
        for i in range(offset, min(n, offset + CONNECT_BATCH)):
            client = SseClient(f"/events/{DROP_ID}/user-{i}", rnd, loop.create_future())
            await loop.create_connection(lambda c=client: c, "127.0.0.1", base_port)  # type: ignore[misc]
            batch.append(client)
        await asyncio.wait_for(asyncio.gather(*(c.connected for c in batch)), 60)
        clients.extend(batch)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(1.0)
    held = rss_kib(pid)
    cpu = crowd_stack.cpu_seconds([pid])
    await run_rounds(bus, rnd, first, messages, timeout=60)
    cpu = crowd_stack.cpu_seconds([pid]) - cpu
    after = rss_kib(pid)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    return {
        "streams": n,
        "connect_s": connect_s,
        "rss_before_mib": before / 1024,
        "rss_held_mib": held / 1024,
        "kib_per_conn": (held - before) / n,
        "kib_per_conn_after_messages": (after - before) / n,
        **summary(rnd),
        "deliveries": len(rnd.latencies),
        # The server's own work per delivery, far less noisy than latency on a busy machine.
        "server_cpu_us_per_delivery": cpu / max(1, len(rnd.latencies)) * 1e6,
    }


async def nats_floor(
    url: str, auth: devstack.InternalAuth, bus: Bus, n: int, first: int, messages: int
) -> dict[str, Any]:
    rnd = Round(expected=n)

    async def on_msg(msg: Any) -> None:
        found = VERSION.search(msg.data)
        if found:
            rnd.deliver(int(found.group(1)), time.perf_counter())

    conns = [
        await nats.connect(
            url,
            user=auth.nats_user,
            password=auth.nats_password,
            pending_size=64 * 1024 * 1024,
        )
        for _ in range(NATS_CONNECTIONS)
    ]
    try:
        for i in range(n):
            await conns[i % NATS_CONNECTIONS].subscribe(
                events.drop_state_subject(DROP_ID), cb=on_msg, pending_msgs_limit=1_000_000
            )
        for nc in conns:
            await nc.flush()
        await run_rounds(bus, rnd, first, messages, timeout=60)
    finally:
        for nc in conns:
            await nc.close()
    return {"subscribers": n, **summary(rnd), "deliveries": len(rnd.latencies)}


def profiled(proc: devstack.Proc, out: Path) -> devstack.Proc:
    """The same server run under cProfile, which writes `out` when the server exits."""
    module = proc.args.index("-m")
    proc.args[module:module] = ["-m", "cProfile", "-o", str(out)]
    return proc


def stop_profiled(proc: devstack.Proc, out: Path) -> None:
    # SIGINT: uvicorn shuts down, then re-raises it as KeyboardInterrupt, and cProfile still
    # writes its file (after SIGTERM the process would die before writing).
    assert proc.popen is not None
    proc.popen.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(60)
    if out.exists():
        stats = pstats.Stats(str(out))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


async def main(sizes: list[int], messages: int, profile: Path | None) -> list[dict[str, Any]]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    if hard < max(sizes) + 200:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is too low for {max(sizes)} streams")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nats_port, monitor, sse_port = (devstack.free_port() for _ in range(3))
        auth = devstack.InternalAuth.create(root / "auth")
        nats_srv = devstack.nats_proc(
            nats_port, monitor, root / "nats", root / "nats.log", auth
        ).start()
        sse = None
        try:
            devstack.wait_nats(monitor)
            url = f"nats://127.0.0.1:{nats_port}"
            bus = await nats_bus.connect(
                url, "bench", user=auth.nats_user, password=auth.nats_password
            )
            await publish(bus, 1)
            # Every stream comes from 127.0.0.1: the per-address cap must admit them all.
            cap = str(max(sizes) + 100)
            env = {"NATS_URL": url, "DROP_ENV": "test", "LOG_LEVEL": "WARNING", **auth.app_env(),
                   "SSE_MAX_CONNECTIONS": cap, "SSE_MAX_STREAMS_PER_IP": cap}  # fmt: skip
            sse = devstack.app_proc("sse", sse_port, env, root / "sse.log")
            if profile is not None:
                sse = profiled(sse, profile)
            sse.start()
            # /ready, not /health: streams answer 503 until the NATS feeds run.
            devstack.wait_http(f"http://127.0.0.1:{sse_port}/ready", "sse")
            assert sse.popen is not None
            version = 2
            for n in sizes:
                stream = await sse_run(sse_port, sse.popen.pid, bus, n, version, messages)
                version += messages
                floor = await nats_floor(url, auth, bus, n, version, messages)
                version += messages
                results.append({"sse": stream, "nats": floor})
                results[-1]["load_avg_1m"] = os.getloadavg()[0]
                print(json.dumps(results[-1]), flush=True)
                await asyncio.sleep(2.0)  # let the server settle before the next size
            await bus.close()
        except BaseException:
            print((root / "sse.log").read_text()[-3000:], file=sys.stderr)  # why it failed
            raise
        finally:
            if sse is not None:
                if profile is not None:
                    stop_profiled(sse, profile)
                sse.stop()
            nats_srv.stop()
    return results


def report(results: list[dict[str, Any]]) -> None:
    print("\n| streams | SSE p50 | SSE p99 | SSE max | NATS p50 | NATS p99 | p99 SSE/NATS |"
          " KiB/conn | server CPU/delivery | connect |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s, f = r["sse"], r["nats"]
        print(
            f"| {s['streams']:,} | {s['p50_ms']:.1f} ms | {s['p99_ms']:.1f} ms "
            f"| {s['max_ms']:.1f} ms "
            f"| {f['p50_ms']:.1f} ms | {f['p99_ms']:.1f} ms | x{s['p99_ms'] / f['p99_ms']:.2f} "
            f"| {s['kib_per_conn']:.1f} | {s['server_cpu_us_per_delivery']:.1f} µs "
            f"| {s['connect_s']:.1f} s |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument(
        "--profile", type=Path, help="run the sse under cProfile, write its stats here and print"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        report(uvloop.run(main(args.sizes, args.messages, args.profile)))
