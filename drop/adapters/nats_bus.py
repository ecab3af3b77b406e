"""NATS connection, JetStream streams and key-value buckets, in one place."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.errors import ConnectionClosedError, ConnectionReconnectingError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    KeyValueConfig,
    ObjectStoreConfig,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
    ObjectNotFoundError,
)
from nats.js.kv import KeyValue

from drop import events, metrics
from drop.adapters import kv_many, kv_read
from drop.adapters.failover import LeavePolicy
from drop.adapters.kv_batch import BatchedKeyValue
from drop.adapters.nats_link import RECONNECT_WAIT_S, WatchedClient
from drop.settings import url_list

log = logging.getLogger(__name__)

DAY = 24 * 3600
# JetStream drops a repeated Nats-Msg-Id inside this window; it must outlast the time a
# handler can take to be retried and replayed after a crash.
DUPLICATE_WINDOW_S = 15 * 60
# A server cut off by the network keeps the TCP connection looking open: unanswered pings
# are what reveal it, so they go often enough to move to another server within seconds.
PING_INTERVAL_S = 2
MAX_OUTSTANDING_PINGS = 2
# The longest one JetStream or key-value call waits for its answer. A healthy cluster
# answers in milliseconds; a call that cannot be answered (a stream whose leader was lost
# and is being elected again) fails soon enough to be retried once the new leader is up.
# A server that is slow but answers pings is left sooner still (drop/adapters/nats_link.py).
REQUEST_TIMEOUT_S = 3.0
# Creating R3 streams and buckets at start-up may take longer on a busy machine.
LAYOUT_TIMEOUT_S = 15.0

STREAMS: tuple[tuple[str, list[str], int], ...] = (
    (events.DROPS_STREAM, ["drop.>"], 7 * DAY),
    (events.QUEUE_STREAM, ["queue.>"], DAY),
    (events.SYSTEM_STREAM, ["system.>"], DAY),
)

BUCKETS: tuple[tuple[str, int], ...] = (
    (events.DROPS_INDEX_BUCKET, 0),
    (events.POW_BUCKET, 5 * 60),
    (events.RATE_LIMIT_BUCKET, 2 * 60),
    (events.QUEUE_TOKENS_BUCKET, 2 * 3600),
    (events.QUEUE_BEHAVIOR_BUCKET, 2 * 3600),
    (events.IDEMPOTENCY_BUCKET, DAY),
    (events.LOYALTY_BUCKET, 0),
    (events.ROLLOVER_BUCKET, 0),
    (events.USER_CLAIMS_BUCKET, 0),
    (events.USER_SESSIONS_BUCKET, 0),
    (events.ADMIN_SESSIONS_BUCKET, 8 * 3600),
    (events.CONTACTS_BUCKET, 0),
    (events.MAIL_LINKS_BUCKET, 3 * DAY),
    (events.MAIL_SENT_BUCKET, 7 * DAY),
    (events.WEBHOOKS_BUCKET, 0),
    (events.WEBHOOK_DELIVERIES_BUCKET, 7 * DAY),
)

# The buckets written once or more for every person in a crowd (the guards' keys, the
# waiting room's mirror of each token, and the loyalty mirror every participant's
# `UserLoyalty` writes after a draw), so their writes share atomic batches
# (drop/adapters/kv_batch.py) where the server allows them. A queued write waits for its
# batch without a deadline: thousands of loyalty puts at once are served in turn instead
# of each timing out and being retried by Restate.
BATCHED_BUCKETS: tuple[str, ...] = (
    events.QUEUE_TOKENS_BUCKET,
    events.RATE_LIMIT_BUCKET,
    events.POW_BUCKET,
    events.USER_CLAIMS_BUCKET,
    events.USER_SESSIONS_BUCKET,
    events.IDEMPOTENCY_BUCKET,
    events.LOYALTY_BUCKET,
)

# Buckets read many keys at a time (every entrant's loyalty and rollover mirror in a
# registration batch): their streams allow direct gets, so one batch direct get reads them
# all (drop/adapters/kv_many.py). A direct get may be answered by any replica, so it can
# lag the last write by the replication's delay: these mirrors are read as hints (the
# rollover spend itself is exact in UserRollover) and change between drops, not within one.
DIRECT_BUCKETS: tuple[str, ...] = (events.LOYALTY_BUCKET, events.ROLLOVER_BUCKET)


@dataclass
class Bus:
    """A connected NATS client with the project's streams and buckets ready."""

    nc: WatchedClient
    js: JetStreamContext
    # Buckets whose streams take atomic batches: their writes are batched.
    atomic: frozenset[str] = frozenset()
    _kv: dict[str, KeyValue] = field(default_factory=dict)

    async def publish(self, subject: str, payload: dict[str, Any], msg_id: str) -> int:
        """Publish through JetStream; returns the stream sequence (duplicates return the first)."""
        ack = await self.js.publish(
            subject,
            json.dumps(payload, separators=(",", ":")).encode(),
            headers={"Nats-Msg-Id": msg_id},
        )
        return int(ack.seq)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any], str]]) -> list[int]:
        """Publish (subject, payload, msg id) messages through JetStream at once: all go out
        before any ack is awaited, each with its own Nats-Msg-Id, and their acks are awaited
        together under one timeout (a request each costs the client several times more).
        Returns each one's stream sequence; raises the first error, or TimeoutError when an
        ack is missing, as `publish` would."""
        if len(messages) <= 1:
            return [await self.publish(*m) for m in messages]
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for subject, payload, msg_id in messages:
                body = json.dumps(payload, separators=(",", ":")).encode()
                headers = {"Nats-Msg-Id": msg_id}
                acks.append(await self.js.publish_async(subject, body, headers=headers))
            _, pending = await asyncio.wait(acks, timeout=REQUEST_TIMEOUT_S)
            if pending:
                raise NatsTimeoutError
            errors = [e for e in (a.exception() for a in acks) if e is not None]
            if errors:
                raise errors[0]
            return [int(a.result().seq) for a in acks]
        finally:
            for ack in acks:
                ack.cancel()  # frees its slot and its reply's entry; a no-op once answered

    async def kv(self, bucket: str) -> KeyValue:
        if bucket not in self._kv:
            kv = await self.js.key_value(bucket)
            if bucket in self.atomic:
                kv = BatchedKeyValue(kv, self.nc, self.js, REQUEST_TIMEOUT_S)
            self._kv[bucket] = kv
        return self._kv[bucket]

    async def get_json(self, bucket: str, key: str) -> Any:
        """A key's JSON value, or None when the key is absent or deleted (read as nats-py
        reads it, for less client CPU: drop/adapters/kv_read.py)."""
        kv = await self.kv(bucket)
        try:
            entry = await kv_read.get(kv, key)
        except KeyNotFoundError:
            return None
        return json.loads(entry.value) if entry.value else None

    async def get_json_many(self, bucket: str, keys: list[str]) -> dict[str, Any]:
        """The JSON values of those of `keys` that have one: one batch direct get when the
        bucket's stream allows it, else one get per key, all at once."""
        if not keys:
            return {}
        if (await self.kv(bucket))._direct:  # the stream allowed direct gets when bound
            raw = await kv_many.last_values(self.nc, bucket, keys, REQUEST_TIMEOUT_S)
            return kv_many.decoded(raw)
        wanted = list(dict.fromkeys(keys))
        values = await asyncio.gather(*(self.get_json(bucket, k) for k in wanted))
        return {k: v for k, v in zip(wanted, values, strict=True) if v is not None}

    async def last_on_subject(self, stream: str, subject: str) -> Any:
        """The JSON of the last message on `subject`, or None when there is none."""
        try:
            raw = await self.js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
        return json.loads(raw.data) if raw.data else None

    async def put_object(self, store: str, name: str, data: bytes) -> None:
        await (await self.js.object_store(store)).put(name, data)

    async def get_object(self, store: str, name: str) -> bytes | None:
        """An object's bytes, or None when it is not there."""
        try:
            found = await (await self.js.object_store(store)).get(name)
        except (ObjectNotFoundError, NotFoundError):
            return None
        return bytes(found.data or b"")

    async def put_if_newer(
        self, bucket: str, key: str, value: bytes, replaces: Callable[[bytes], bool]
    ) -> bool:
        """Write `value` unless the stored one should stay (`replaces(stored)` is False).

        Compare-and-set on the key's revision, retried on conflict, so concurrent writers
        never move the key back to an older value. Returns whether `value` was written.
        """
        kv = await self.kv(bucket)
        while True:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                entry = None
            try:
                if entry is None or not entry.value:
                    await kv.create(key, value)
                    return True
                if not replaces(entry.value):
                    return False
                await kv.update(key, value, last=entry.revision)
                return True
            except KeyWrongLastSequenceError:
                continue  # somebody wrote in between: look again

    async def close(self) -> None:
        if self.nc.is_closed:
            return
        try:
            await self.nc.drain()
        except (ConnectionReconnectingError, ConnectionClosedError):
            # Mid-reconnect there is nothing to drain through; closing is all that is left.
            await self.nc.close()


async def ensure_layout(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams and buckets if missing (idempotent, safe from every service), each
    kept on `replicas` servers of the cluster."""
    for name, subjects, max_age in STREAMS:
        config = StreamConfig(
            name=name,
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=float(max_age),
            duplicate_window=float(DUPLICATE_WINDOW_S),
            num_replicas=replicas,
        )
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
    try:
        await js.object_store(events.PROOFS_STORE)
    except (BucketNotFoundError, NotFoundError):
        await js.create_object_store(
            events.PROOFS_STORE, ObjectStoreConfig(storage=StorageType.FILE, replicas=replicas)
        )
    for bucket, ttl in BUCKETS:
        direct = bucket in DIRECT_BUCKETS
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket,
                    ttl=float(ttl) if ttl else None,
                    history=1,
                    replicas=replicas,
                    direct=direct or None,
                )
            )
        if direct:
            await _allow_direct(js, bucket)


async def _allow_direct(js: JetStreamContext, bucket: str) -> None:
    """Let a bucket created by an earlier build answer direct gets (a setting a stream
    may change in place)."""
    info = await js.stream_info(f"KV_{bucket}")
    if not info.config.allow_direct:
        info.config.allow_direct = True
        await js.update_stream(info.config)


async def allow_atomic_batches(js: JetStreamContext, buckets: tuple[str, ...]) -> frozenset[str]:
    """Let the buckets' streams take atomic batches (nats-server 2.12+); the buckets that do.
    An older server refuses the setting: their writes then go one by one, as before."""
    allowed: set[str] = set()
    for bucket in buckets:
        try:
            config = (await js.stream_info(f"KV_{bucket}")).config
            if not config.allow_atomic:
                config.allow_atomic = True
                # A server that does not know the setting may ignore it rather than refuse
                # it, and would then store a batch's messages one by one: trust only what
                # the server says it now holds.
                config = (await js.update_stream(config)).config
        except (NotFoundError, APIError) as exc:
            log.warning("bucket %s takes no atomic batches, writes go one by one: %r", bucket, exc)
            continue
        if config.allow_atomic:
            allowed.add(bucket)
        else:
            log.warning("bucket %s takes no atomic batches, writes go one by one", bucket)
    return frozenset(allowed)


async def connect(
    url: str,
    name: str,
    *,
    user: str = "",
    password: str = "",
    reconnect: bool = True,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
    replicas: int = 1,
    policy: LeavePolicy | None = None,
) -> Bus:
    """Connect to NATS (retrying forever in the background when `reconnect`).

    `url` may list the servers of a cluster, comma separated; the client moves between them.
    A missing layout is created with `replicas` copies of each stream and bucket.

    `user`/`password` are the credentials nats-server requires (empty: anonymous, for a
    server without auth). `reconnected_cb` runs after each reconnection, e.g. to resume
    JetStream consumers. `policy` says when a slow server is left (the default suits apps).
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_reconnect() -> None:
        nc.link_up()
        metrics.reconnected(name)
        if reconnected_cb is not None:
            await reconnected_cb()

    nc = WatchedClient(policy)
    await nc.connect(
        servers=url_list(url),
        name=name,
        allow_reconnect=reconnect,
        max_reconnect_attempts=-1 if reconnect else 0,
        # nats-py types it int; it takes seconds as a float.
        reconnect_time_wait=RECONNECT_WAIT_S,  # type: ignore[arg-type]
        connect_timeout=2,
        ping_interval=PING_INTERVAL_S,
        max_outstanding_pings=MAX_OUTSTANDING_PINGS,
        error_cb=on_error,
        reconnected_cb=on_reconnect,
        user=user or None,
        password=password or None,
        reconnect_to_server_handler=nc.choose_server,
    )
    nc.link_up()
    layout = nc.jetstream(timeout=LAYOUT_TIMEOUT_S)
    await ensure_layout(layout, replicas)
    atomic = await allow_atomic_batches(layout, BATCHED_BUCKETS)
    return Bus(nc=nc, js=nc.jetstream(timeout=REQUEST_TIMEOUT_S), atomic=atomic)
