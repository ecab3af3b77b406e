"""Many keys of one bucket read in one round trip: a JetStream *batch direct get*.

A registration batch reads each entrant's loyalty and rollover mirror. One `KeyValue.get`
each is a request of its own (a task, a timer and the slow-link judgement per key, and a
message each way); a direct get with `multi_last` (nats-server 2.11+, ADR-31) asks the
bucket's stream for the last message of every key's subject at once, and the server
answers with one message per key found, then an end-of-batch status. Only a stream that
allows direct gets answers it; the bus reads other buckets key by key.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import InvalidKeyError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, _is_key_valid

# The server's answers to a batch: end of batch, and nothing found for any subject.
END_OF_BATCH = "204"
NO_RESULTS = "404"
# Subjects per request; larger batches are sent as several requests, all at once.
MAX_SUBJECTS = 256


class BatchGetError(Exception):
    """The server refused a batch direct get (an unexpected status)."""


async def last_values(nc: Client, bucket: str, keys: list[str], timeout: float) -> dict[str, bytes]:
    """The current value of each of `keys` that has one (absent, deleted and purged keys
    are left out). Raises `TimeoutError` when the answers are not all in by `timeout`."""
    for key in keys:
        if not _is_key_valid(key):
            raise InvalidKeyError
    wanted = list(dict.fromkeys(keys))
    parts = [wanted[i : i + MAX_SUBJECTS] for i in range(0, len(wanted), MAX_SUBJECTS)]
    deadline = time.monotonic() + timeout
    found: dict[str, bytes] = {}
    for part_found in await asyncio.gather(*(_one(nc, bucket, p, deadline) for p in parts)):
        found.update(part_found)
    return found


async def _one(nc: Client, bucket: str, keys: list[str], deadline: float) -> dict[str, bytes]:
    prefix = f"$KV.{bucket}."
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    found: dict[str, bytes] = {}
    try:
        request = {"multi_last": [prefix + k for k in keys], "batch": len(keys)}
        await nc.publish(
            f"$JS.API.DIRECT.GET.KV_{bucket}",
            json.dumps(request, separators=(",", ":")).encode(),
            reply=inbox,
        )
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NatsTimeoutError
            msg = await sub.next_msg(timeout=left)
            headers = msg.headers or {}
            status = headers.get("Status")
            if status in (END_OF_BATCH, NO_RESULTS):
                return found
            if status is not None:
                raise BatchGetError(f"batch get on {bucket}: status {status}")
            if headers.get(KV_OP) in (KV_DEL, KV_PURGE):
                continue
            subject = headers.get("Nats-Subject", "")
            if subject.startswith(prefix):
                found[subject[len(prefix) :]] = msg.data
    finally:
        await sub.unsubscribe()


def decoded(raw: dict[str, bytes]) -> dict[str, Any]:
    """The JSON values of `last_values`' answer (an empty value reads as absent)."""
    return {k: json.loads(v) for k, v in raw.items() if v}
