"""The three event streams: what each client is sent on connect, on reconnect, and live."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from apps.sse import frames, snapshots
from apps.sse.fanout import Item
from apps.sse.runtime import Runtime
from drop import events
from drop.contracts import UserState, backups_ahead

_SECRET_FIELDS = ("token", "tokenExpiresAt")


@dataclass(frozen=True)
class Resumed:
    """A reconnecting client's Last-Event-ID (None: a fresh stream), and whether it is
    `ahead` of this replica: the stream holds that id, but this replica's tail had not
    reached it after waiting. Such a client has every event up to its id already, so its
    stream goes on from there with no snapshot (an older one, and the events after it,
    would send it what it has again)."""

    last_event_id: int | None
    ahead: bool = False

    @property
    def goes_on_from(self) -> int | None:
        """The id a client ahead of this replica goes on from (None: replay or snapshot)."""
        return self.last_event_id if self.ahead else None


def drop_frame(item: Item) -> bytes:
    cached = item.frames.get("drop")
    if cached is None:
        data = {**item.data, "serverTime": frames.now_ms()}
        cached = item.frames["drop"] = frames.frame("drop", data, item.seq)
    return cached


def user_data(data: dict[str, Any], with_token: bool) -> dict[str, Any]:
    """A user's status; the purchase token only for the holder of that user's session."""
    out = {**data, "serverTime": frames.now_ms()}
    if "backupsAhead" not in out:  # published before the field existed
        out["backupsAhead"] = backups_ahead(out.get("status"), out.get("backupPosition"))
    if not with_token:
        for name in _SECRET_FIELDS:
            if name in out:
                out[name] = None
    return out


def user_frame(item: Item, with_token: bool) -> bytes:
    variant = "user+token" if with_token else "user"
    cached = item.frames.get(variant)
    if cached is None:
        data = user_data({**item.data, "reason": item.type}, with_token)
        cached = item.frames[variant] = frames.frame("user", data, item.seq)
    return cached


def queue_frame(item: Item) -> bytes:
    cached = item.frames.get("queue")
    if cached is None:
        cached = item.frames["queue"] = frames.frame(item.type, item.data, item.seq)
    return cached


class UserView:
    """Per-client filter of `/events/{dropId}/{userId}`: order, no duplicates, no stale states."""

    __slots__ = ("drop_floor", "drop_version", "user_floor", "user_version", "with_token")

    def __init__(self, with_token: bool, floor: int) -> None:
        self.with_token = with_token
        self.drop_floor = self.user_floor = floor
        self.drop_version = self.user_version = 0

    def render(self, item: Item) -> bytes | None:
        if item.subject.endswith(".state"):
            if item.seq <= self.drop_floor or 0 < item.version <= self.drop_version:
                return None
            self.drop_floor, self.drop_version = item.seq, max(item.version, self.drop_version)
            return drop_frame(item)
        if item.seq <= self.user_floor or 0 < item.version <= self.user_version:
            return None
        self.user_floor, self.user_version = item.seq, max(item.version, self.user_version)
        return user_frame(item, self.with_token)

    def batch(self, items: list[Item]) -> bytes:
        return b"".join(frame for frame in map(self.render, items) if frame)


class QueueView:
    """Per-client filter of `/events/queue/...`: stream order, no duplicates."""

    __slots__ = ("floor",)

    def __init__(self, floor: int) -> None:
        self.floor = floor

    def render(self, item: Item) -> bytes | None:
        if item.seq <= self.floor:
            return None
        self.floor = item.seq
        return queue_frame(item)

    def batch(self, items: list[Item]) -> bytes:
        return b"".join(frame for frame in map(self.render, items) if frame)


async def _newcomer(rt: Runtime, drop_id: str, user_id: str) -> dict[str, Any]:
    """Someone not registered yet, with their real rollover balance and loyalty
    (docs/contract.md, Streams): the page prices the entry from them. Read from the mirrors
    the worker keeps."""
    rollover, loyalty = await asyncio.gather(
        snapshots.kv_json(rt.rollover, user_id), snapshots.kv_json(rt.loyalty, user_id)
    )
    known: dict[str, Any] = {}
    balance = rollover.get("balance") if isinstance(rollover, dict) else None
    if isinstance(balance, int) and not isinstance(balance, bool) and balance >= 0:
        known["rollover_balance"] = balance
    if isinstance(loyalty, dict):
        tier, multiplier = loyalty.get("tier"), loyalty.get("multiplier")
        if isinstance(tier, str) and isinstance(multiplier, int | float):
            known.update(loyalty_tier=tier, loyalty_multiplier=float(multiplier))
    return UserState(drop_id=drop_id, user_id=user_id, **known).wire()


async def _user_snapshot(
    rt: Runtime, view: UserView, drop_id: str, user_id: str, state: dict[str, Any], at: int
) -> bytes:
    """`connected` then `user`, both with the id the live feed continues from."""
    latest = await snapshots.last_on_subject(
        rt.bus.js, events.DROPS_STREAM, events.drop_user_subject(drop_id, user_id)
    )
    user = latest.data if latest is not None else await _newcomer(rt, drop_id, user_id)
    view.drop_version = max(view.drop_version, int(state.get("version") or 0))
    if latest is not None:
        view.user_floor = max(view.user_floor, latest.seq)
        view.user_version = max(view.user_version, latest.version)
    connected = {**state, "dropId": drop_id, "serverTime": frames.now_ms()}
    return frames.frame("connected", connected, at) + frames.frame(
        "user", user_data(user, view.with_token), at
    )


async def user_opening(
    rt: Runtime,
    view: UserView,
    drop_id: str,
    user_id: str,
    state: dict[str, Any],
    at: int,
    resumed: Resumed,
) -> bytes:
    """`/events/{dropId}/{userId}` up to the live point `at` (read when the client subscribed).

    Either what a reconnecting client missed, or `connected` and `user` snapshots.
    """
    subjects = [events.drop_state_subject(drop_id), events.drop_user_subject(drop_id, user_id)]
    if (floor := resumed.goes_on_from) is not None:
        view.drop_floor = view.user_floor = floor
        return frames.retry(rt.settings.sse_retry_ms)
    last_event_id = resumed.last_event_id
    missed = None
    if last_event_id is not None:
        missed = await snapshots.replay(
            rt.bus.js,
            events.DROPS_STREAM,
            subjects,
            last_event_id,
            at,
            rt.settings.sse_replay_limit,
        )
    head = [frames.retry(rt.settings.sse_retry_ms)]
    if missed is None:
        head.append(await _user_snapshot(rt, view, drop_id, user_id, state, at))
    else:
        view.drop_floor = view.user_floor = last_event_id or 0
        head.append(view.batch(missed))
        view.drop_floor = max(view.drop_floor, at)
        view.user_floor = max(view.user_floor, at)
    return b"".join(head)


async def queue_opening(
    rt: Runtime, view: QueueView, drop_id: str, token: str, at: int, resumed: Resumed
) -> bytes:
    """`/events/queue/{dropId}/{token}`: what was missed, or the token's current state."""
    subject = events.queue_subject(drop_id, token)
    if (floor := resumed.goes_on_from) is not None:
        view.floor = floor
        return frames.retry(rt.settings.sse_retry_ms)
    last_event_id = resumed.last_event_id
    missed = None
    if last_event_id is not None:
        missed = await snapshots.replay(
            rt.bus.js,
            events.QUEUE_STREAM,
            [subject],
            last_event_id,
            at,
            rt.settings.sse_replay_limit,
        )
    head = [frames.retry(rt.settings.sse_retry_ms)]
    if missed is None:
        head.append(await _queue_snapshot(rt, view, drop_id, token, at))
    else:
        view.floor = last_event_id or 0
        head.append(view.batch(missed))
        view.floor = max(view.floor, at)
    return b"".join(head)


async def _queue_snapshot(rt: Runtime, view: QueueView, drop_id: str, token: str, at: int) -> bytes:
    latest = await snapshots.last_on_subject(
        rt.bus.js, events.QUEUE_STREAM, events.queue_subject(drop_id, token)
    )
    if latest is not None:
        view.floor = max(view.floor, latest.seq)
        return frames.frame(latest.type, latest.data, max(at, latest.seq))
    known = await snapshots.kv_json(rt.queue_tokens, f"{drop_id}.{token}")
    record: dict[str, Any] = known if isinstance(known, dict) else {}
    status = record.get("status")
    if status == "ready":
        data = {"token": token, "expiresAt": record.get("expiresAt")}
        return frames.frame("queue_ready", data, at)
    if status in ("expired", "used"):
        return frames.frame("queue_expired", {"token": token}, at)
    position = record.get("position")
    data = {
        "position": position,
        "estimatedWaitSeconds": record.get("estimatedWaitSeconds"),
        "aheadOfYou": position - 1 if isinstance(position, int) and position > 0 else None,
        "totalInQueue": record.get("totalInQueue"),
    }
    return frames.frame("queue_position", data, at)


async def drops_opening(rt: Runtime) -> bytes:
    """`/events/drops`: the whole list is the snapshot, so a reconnect needs no replay."""
    return frames.retry(rt.settings.sse_retry_ms) + rt.board.frame()


def newest(lists: list[bytes]) -> bytes:
    return lists[-1]  # each is the full list: only the newest matters
