"""Key-value writes one by one against atomic batches (drop/adapters/kv_batch.py).

N creates of new keys with C in flight, through nats-py's `KeyValue` and through
`BatchedKeyValue`, against a running nats-server (2.12+; e.g. `make dev`'s, or
`nats-server -js`): writes per second, and CPU per write of this client and of the server
(from /proc, so run it on the server's machine and give its pid).

    .venv/bin/python -m bench.kv_writes --url nats://127.0.0.1:4222 --server-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path

from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from drop.adapters.kv_batch import BatchedKeyValue
from drop.adapters.nats_link import WatchedClient

BUCKET = "bench_kv_writes"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(kv: KeyValue, writes: int, in_flight: int, server_pid: int) -> str:
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await kv.create(f"k{uuid.uuid4().hex}", b'{"start":1,"count":1}')

    client, server, started = time.process_time(), cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(writes)))
    took = time.perf_counter() - started
    client_us = (time.process_time() - client) / writes * 1e6
    server_us = (cpu_seconds(server_pid) - server) / writes * 1e6
    return f"{writes / took:8.0f} /s   client {client_us:6.1f} us   server {server_us:6.1f} us"


async def run(args: argparse.Namespace) -> None:
    nc = WatchedClient(None)
    await nc.connect(args.url)
    js = nc.jetstream(timeout=5)
    with contextlib.suppress(BucketNotFoundError, NotFoundError):
        await js.delete_key_value(BUCKET)
    await js.create_key_value(KeyValueConfig(bucket=BUCKET, history=1, ttl=120))
    config = (await js.stream_info(f"KV_{BUCKET}")).config
    config.allow_atomic = True
    await js.update_stream(config)
    plain = await js.key_value(BUCKET)
    batched = BatchedKeyValue(plain, nc, js, 5.0)
    try:
        for in_flight in args.in_flight:
            for name, kv in (("one by one", plain), ("batched", batched)):
                figures = await measure(kv, args.writes, in_flight, args.server_pid)
                print(f"{in_flight:5d} in flight, {name:10s} {figures}")
    finally:
        await js.delete_key_value(BUCKET)
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--writes", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[10, 50, 100, 200, 400])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
