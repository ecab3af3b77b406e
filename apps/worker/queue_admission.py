"""QueueAdmission (key = dropId): the waiting room in front of a drop's registration.

Every join and every admission runs in this one object, so places in line are exact: a
token's place is computed from its sequence number, the head of the line and the few
tokens that left it out of order, never from counters raced by several processes.

State is lazy (`state_preload=False`); a join or a tick touches a handful of keys whatever
the length of the line. Keys:
  meta            config, counters, head/tail of the line, holes, admission-loop state
  ready           {token: expiresAt} of the ready tokens (at most `maxConcurrent`)
  line:{n}        chunks of CHUNK tokens in join order (sequence number s is at
                  line:{(s-1)//CHUNK}[(s-1)%CHUNK])
  tok:{token}     the token's record: seq, status, hashes, times, user who used it
  fp:{hash}       live tokens of a device fingerprint (hashed by the API)
  ip:{hash}       live tokens of an IP (hashed with IP_HASH_SALT by the API)

Token states: waiting → ready → used | expired (a waiting token also expires after
`maxAgeS`). A used token stays bound to the user who used it, so that user can retry a
registration that failed for another reason; an expired token frees its device and IP.

The admission loop is a chain of delayed `tick` calls to this object, one generation at a
time: it starts on the first join, admits at `rate` per second (a token bucket credited for
the time that really passed) while fewer than `maxConcurrent` tokens are ready, and stops
when nobody is waiting; the next join starts a new generation. Each admitted token also
gets a durable timer (`markTokenExpired`) at the end of its ready window.

Events on `queue.{dropId}.{token}`: `queue_ready`, `queue_expired` and `queue_position`.
Positions move for every waiting token whenever the head moves, so publishing all of them
on every tick would cost O(waiting) per tick. Instead a tick that moved the line publishes
positions to the first HEAD_WINDOW waiting tokens (about to be admitted, where the number
matters most) and to SWEEP_BUDGET more taken round-robin from the rest of the line; each
join publishes the joiner's first position. Status and heartbeat calls always compute the
exact place on demand. Each token's current view is also written to the `queue_tokens`
key-value bucket under `{dropId}.{token}` for stream snapshots.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from bisect import insort
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import restate
from pydantic import ValidationError

from apps.worker import effects
from apps.worker.runtime import current
from drop import events
from drop.contracts import QueueConfig
from drop.domain.queue_rules import (
    accrue_credit,
    estimated_wait_seconds,
    make_queue_token,
    place_in_line,
    token_is_well_formed,
)

queue_admission = restate.VirtualObject("QueueAdmission", state_preload=False)

TICK = timedelta(milliseconds=250)
CHUNK = 256
HEAD_WINDOW = 20
SWEEP_BUDGET = 40
# Head steps (admissions and max-age expiries) per tick: bounds the size of one invocation.
MAX_STEPS = 500
# Credit saved while a tick waits behind a burst of joins; also the largest admission burst.
BURST_SECONDS = 2.0
# A loop whose last tick is older than this is presumed broken and restarted by a join.
STALE_LOOP_MS = 10_000

_HASH = re.compile(r"^[0-9a-f]{16,128}$")

Meta = dict[str, Any]
Record = dict[str, Any]
Ctx = restate.ObjectContext
AnyCtx = restate.ObjectContext | restate.ObjectSharedContext


def _default_config() -> QueueConfig:
    return QueueConfig.from_settings(current().queue)


def _config(meta: Meta) -> QueueConfig:
    return QueueConfig.model_validate(meta["cfg"])


def _new_meta(cfg: QueueConfig) -> Meta:
    return {
        "cfg": cfg.wire(),
        "tail": 0,
        "head": 1,
        "holes": [],
        "waiting": 0,
        "ready": 0,
        "admitted": 0,
        "used": 0,
        "expired": 0,
        "loop": {"active": False, "gen": 0, "credit": 0.0, "lastTickAt": 0, "ticks": 0},
        "sweep": 0,
    }


def _chunk_key(seq: int) -> str:
    return f"line:{(seq - 1) // CHUNK}"


def _view(drop_id: str, token: str, rec: Record, meta: Meta, now: int) -> dict[str, Any]:
    """What the token's holder may see (no hashes, no user id): the exact place in line."""
    status = rec["status"]
    position = ahead = wait = 0
    expires_at: int | None = None
    if status == "waiting":
        cfg = _config(meta)
        position = place_in_line(rec["seq"], int(meta["head"]), meta["holes"])
        ahead = position - 1
        wait = estimated_wait_seconds(position, cfg.rate, meta["ready"], cfg.max_concurrent)
        expires_at = rec["waitUntil"]
    elif status == "ready":
        expires_at = rec["expiresAt"]
        if now >= rec["expiresAt"]:
            status = "expired"  # its timer has not run yet, but it can no longer be used
    return {
        "token": token,
        "dropId": drop_id,
        "status": status,
        "position": position,
        "aheadOfYou": ahead,
        "totalInQueue": meta["waiting"],
        "estimatedWaitSeconds": wait,
        "joinedAt": rec["joinedAt"],
        "readyAt": rec.get("readyAt"),
        "expiresAt": expires_at,
        "updatedAt": now,
    }


@dataclass(frozen=True)
class Emit:
    """A token's view to store in `queue_tokens`, and the event announcing it (if any)."""

    token: str
    view: dict[str, Any]
    type: str | None = None
    data: dict[str, Any] | None = None
    msg_id: str = ""


def _announce(drop_id: str, token: str, view: dict[str, Any], kind: str, tag: str) -> Emit:
    data: dict[str, Any]
    if kind == "queue_position":
        keys = ("position", "estimatedWaitSeconds", "aheadOfYou", "totalInQueue")
        data = {k: view[k] for k in keys}
    elif kind == "queue_ready":
        data = {"token": token, "expiresAt": view["expiresAt"]}
    else:
        data = {"token": token}
    return Emit(token, view, kind, data, f"{drop_id}:q:{token}:{tag}")


async def _emit(ctx: AnyCtx, step: str, drop_id: str, *phases: list[Emit]) -> None:
    """Store the views and publish the events in one journaled step, phase after phase (an
    expiry is published before the admission that reuses its slot)."""
    if not any(phases):
        return

    async def action() -> None:
        bus = current().bus
        kv = await bus.kv(events.QUEUE_TOKENS_BUCKET)
        at = int(time.time() * 1000)

        async def one(item: Emit) -> None:
            await kv.put(f"{drop_id}.{item.token}", json.dumps(item.view).encode())
            if item.type is not None:
                event = events.Event(id=item.msg_id, type=item.type, data=item.data or {}, at=at)
                subject = events.queue_subject(drop_id, item.token)
                await bus.publish(subject, event.model_dump(), item.msg_id)

        for phase in phases:
            await asyncio.gather(*(one(item) for item in phase))

    await ctx.run_typed(step, action)


def _stamp() -> dict[str, Any]:
    """The join's clock reading and the token's secret part, journaled together."""
    return {"now": int(time.time() * 1000), "random": secrets.token_hex(16)}


def _hash_arg(req: dict[str, Any], name: str) -> str:
    value = str(req.get(name) or "")
    if not _HASH.match(value):
        raise effects.fail("invalid_request", f"{name} must be a lowercase hex digest", 400)
    return value


def _parse_config(raw: Any) -> QueueConfig:
    if raw is None:
        return _default_config()
    try:
        return QueueConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise effects.fail("invalid_request", f"queue config {where}: {first['msg']}", 400) from exc


async def _record(ctx: AnyCtx, token: str) -> Record | None:
    if not token_is_well_formed(token):
        return None
    raw = await ctx.get(f"tok:{token}", type_hint=dict)
    return dict(raw) if raw else None


class Holders:
    """The `fp:*` and `ip:*` lists touched by one invocation, written back once."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.lists: dict[str, list[str]] = {}

    async def release(self, key: str, token: str) -> None:
        if key not in self.lists:
            self.lists[key] = list(await self.ctx.get(key, type_hint=list) or [])
        if token in self.lists[key]:
            self.lists[key].remove(token)

    def save(self) -> None:
        for key, tokens in self.lists.items():
            if tokens:
                self.ctx.set(key, tokens)
            else:
                self.ctx.clear(key)


async def _end(
    ctx: Ctx, meta: Meta, ready: dict[str, int], holders: Holders, token: str, rec: Record, now: int
) -> Emit:
    """Expire a waiting or ready token: free its slot, its device and its network."""
    if rec["status"] == "ready":
        ready.pop(token, None)
        meta["ready"] = len(ready)
    elif rec["status"] == "waiting":
        meta["waiting"] -= 1
    rec.update(status="expired", endedAt=now)
    meta["expired"] += 1
    ctx.set(f"tok:{token}", rec)
    await holders.release(f"fp:{rec['fp']}", token)
    await holders.release(f"ip:{rec['ip']}", token)
    view = _view(ctx.key(), token, rec, meta, now)
    return _announce(ctx.key(), token, view, "queue_expired", "expired")


def _start_loop(ctx: Ctx, meta: Meta, now: int) -> None:
    """Start a new generation of the admission loop unless one is running."""
    loop = meta["loop"]
    if loop["active"] and now - loop["lastTickAt"] < STALE_LOOP_MS:
        return
    rate = _config(meta).rate
    loop.update(
        active=True,
        gen=loop["gen"] + 1,
        credit=min(1.0, rate * TICK.total_seconds()),
        lastTickAt=now,
    )
    ctx.object_send(tick, ctx.key(), {"gen": loop["gen"]})


@queue_admission.handler()
async def joinQueue(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Take a place in line: at most `maxPerFingerprint` live tokens per device and
    `maxPerIp` per network. `config` carries the API's queue settings."""
    drop_id = ctx.key()
    fp, ip = _hash_arg(req, "fingerprintHash"), _hash_arg(req, "ipHash")
    cfg = _parse_config(req.get("config"))
    meta_f = ctx.get("meta", type_hint=dict)
    fp_f = ctx.get(f"fp:{fp}", type_hint=list)
    ip_f = ctx.get(f"ip:{ip}", type_hint=list)
    meta = dict(await meta_f or _new_meta(cfg))
    by_fp, by_ip = list(await fp_f or []), list(await ip_f or [])
    if len(by_fp) >= cfg.max_per_fingerprint:
        raise effects.fail(
            "queue_fingerprint_limit", "this device already has a place in this queue", 409
        )
    if len(by_ip) >= cfg.max_per_ip:
        raise effects.fail(
            "queue_ip_limit", f"at most {cfg.max_per_ip} places per network in this queue", 409
        )
    stamp = await ctx.run_typed("join stamp", _stamp)
    now, token = int(stamp["now"]), make_queue_token(drop_id, str(stamp["random"]))
    meta["cfg"] = cfg.wire()
    seq = meta["tail"] + 1
    chunk = list(await ctx.get(_chunk_key(seq), type_hint=list) or [])
    wait_until = now + int(cfg.max_age_s * 1000)
    chunk.append([token, now, wait_until])
    rec: Record = {
        "seq": seq,
        "status": "waiting",
        "fp": fp,
        "ip": ip,
        "joinedAt": now,
        "waitUntil": wait_until,
    }
    meta["tail"], meta["waiting"] = seq, meta["waiting"] + 1
    ctx.set(_chunk_key(seq), chunk)
    ctx.set(f"tok:{token}", rec)
    ctx.set(f"fp:{fp}", [*by_fp, token])
    ctx.set(f"ip:{ip}", [*by_ip, token])
    _start_loop(ctx, meta, now)
    ctx.set("meta", meta)
    view = _view(drop_id, token, rec, meta, now)
    await _emit(
        ctx, "join events", drop_id, [_announce(drop_id, token, view, "queue_position", "j")]
    )
    keys = ("token", "status", "position", "aheadOfYou", "totalInQueue", "estimatedWaitSeconds")
    return {"success": True, **{k: view[k] for k in keys}, "expiresAt": view["expiresAt"]}


class Line:
    """The line's chunks, each read at most once per invocation."""

    def __init__(self, ctx: AnyCtx) -> None:
        self.ctx = ctx
        self.chunks: dict[str, list[list[Any]]] = {}

    async def entry(self, seq: int) -> tuple[str, int, int]:
        """(token, joinedAt, waitUntil) of the token with sequence number `seq`."""
        key = _chunk_key(seq)
        if key not in self.chunks:
            self.chunks[key] = list(await self.ctx.get(key, type_hint=list) or [])
        token, joined, wait_until = self.chunks[key][(seq - 1) % CHUNK]
        return str(token), int(joined), int(wait_until)


@dataclass
class Walk:
    """What one tick found at the head of the line."""

    too_old: list[str]
    admit: list[str]
    head: int


async def _walk(line: Line, meta: Meta, quota: int, now: int) -> Walk:
    """From the head: tokens past their max age (expired in order) and up to `quota`
    tokens to admit; the new head is the first waiting token left in line."""
    holes, tail = set(meta["holes"]), int(meta["tail"])
    walk = Walk([], [], int(meta["head"]))
    steps = 0
    while walk.head <= tail and steps < MAX_STEPS:
        if walk.head in holes:
            walk.head += 1
            continue
        token, _, wait_until = await line.entry(walk.head)
        if now >= wait_until:
            walk.too_old.append(token)
        elif len(walk.admit) < quota:
            walk.admit.append(token)
        else:
            break
        walk.head += 1
        steps += 1
    return walk


async def _records(ctx: Ctx, tokens: list[str]) -> list[Record]:
    """Read several token records at once (the reads are pipelined)."""
    futures = [ctx.get(f"tok:{t}", type_hint=dict) for t in tokens]
    return [dict(await f or {}) for f in futures]


async def _positions(line: Line, meta: Meta, drop_id: str, now: int) -> list[Emit]:
    """Position updates for the head window and the next stretch of the round-robin sweep."""
    holes, tail, head = set(meta["holes"]), int(meta["tail"]), int(meta["head"])
    seqs: list[int] = []
    s = head
    while len(seqs) < HEAD_WINDOW and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    window_end = s
    s = max(int(meta["sweep"]), window_end)
    budget = len(seqs) + SWEEP_BUDGET
    while len(seqs) < budget and s <= tail:
        if s not in holes:
            seqs.append(s)
        s += 1
    meta["sweep"] = s if s <= tail else 0
    tag = f"t{meta['loop']['gen']}.{meta['loop']['ticks']}"
    out = []
    for seq in seqs:
        token, joined, wait_until = await line.entry(seq)
        rec = {"seq": seq, "status": "waiting", "joinedAt": joined, "waitUntil": wait_until}
        view = _view(drop_id, token, rec, meta, now)
        out.append(_announce(drop_id, token, view, "queue_position", tag))
    return out


@queue_admission.handler()
async def tick(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """One step of the admission loop; reschedules itself while anyone is waiting."""
    drop_id = ctx.key()
    meta_f, ready_f = ctx.get("meta", type_hint=dict), ctx.get("ready", type_hint=dict)
    raw_meta, raw_ready = await meta_f, await ready_f
    if raw_meta is None or not raw_meta["loop"]["active"]:
        return {"stale": True}
    meta, ready = dict(raw_meta), {str(k): int(v) for k, v in (raw_ready or {}).items()}
    loop = meta["loop"]
    if req.get("gen") != loop["gen"]:
        return {"stale": True}
    cfg = _config(meta)
    now = await effects.now_ms(ctx, "tick time")
    holders = Holders(ctx)
    ended: list[Emit] = []
    # Ready windows that ended; their timers may still be queued behind this tick.
    lapsed = sorted((t for t, at in ready.items() if at <= now), key=ready.__getitem__)
    for token, rec in zip(lapsed, await _records(ctx, lapsed), strict=True):
        ended.append(await _end(ctx, meta, ready, holders, token, rec, now))
    elapsed = (now - loop["lastTickAt"]) / 1000
    loop["credit"] = accrue_credit(loop["credit"], cfg.rate, elapsed, cfg.rate * BURST_SECONDS)
    loop["lastTickAt"], loop["ticks"] = now, loop["ticks"] + 1
    quota = max(0, min(int(loop["credit"]), cfg.max_concurrent - len(ready)))
    line = Line(ctx)
    walk = await _walk(line, meta, quota, now)
    too_old, admit = await _records(ctx, walk.too_old), await _records(ctx, walk.admit)
    for token, rec in zip(walk.too_old, too_old, strict=True):
        ended.append(await _end(ctx, meta, ready, holders, token, rec, now))
    moved = walk.head != meta["head"]
    meta["holes"] = [h for h in meta["holes"] if h >= walk.head]
    meta["head"] = walk.head
    admitted = _admit(ctx, meta, ready, dict(zip(walk.admit, admit, strict=True)), now)
    loop["credit"] -= len(admitted)
    if meta["waiting"] > 0:
        ctx.object_send(tick, drop_id, {"gen": loop["gen"]}, send_delay=TICK)
    else:
        loop["active"] = False
    positions = await _positions(line, meta, drop_id, now) if moved else []
    holders.save()
    ctx.set("ready", ready)
    ctx.set("meta", meta)
    await _emit(ctx, "tick events", drop_id, ended, admitted, positions)
    return {
        "admitted": len(admitted),
        "expired": len(ended),
        "waiting": meta["waiting"],
        "ready": meta["ready"],
    }


def _admit(
    ctx: Ctx, meta: Meta, ready: dict[str, int], recs: dict[str, Record], now: int
) -> list[Emit]:
    """Waiting → ready, each with a durable timer at the end of its ready window."""
    window_ms = int(_config(meta).ready_window_s * 1000)
    meta["waiting"] -= len(recs)
    meta["admitted"] += len(recs)
    for token, rec in recs.items():
        rec.update(status="ready", readyAt=now, expiresAt=now + window_ms)
        ctx.set(f"tok:{token}", rec)
        ready[token] = now + window_ms
        ctx.object_send(
            markTokenExpired,
            ctx.key(),
            {"token": token, "reason": "ready_window"},
            send_delay=timedelta(milliseconds=window_ms),
        )
    meta["ready"] = len(ready)
    return [
        _announce(ctx.key(), t, _view(ctx.key(), t, r, meta, now), "queue_ready", "ready")
        for t, r in recs.items()
    ]


@queue_admission.handler()
async def markTokenExpired(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Expire a token now (a ready window's timer, or an operator). Used and already expired
    tokens are left as they are; a waiting token leaves the line and frees its place."""
    token = str(req.get("token") or "")
    rec = await _record(ctx, token)
    if rec is None:
        return {"found": False}
    meta_f, ready_f = ctx.get("meta", type_hint=dict), ctx.get("ready", type_hint=dict)
    meta = dict(await meta_f or {})
    ready = {str(k): int(v) for k, v in (await ready_f or {}).items()}
    now = await effects.now_ms(ctx)
    timer = req.get("reason") == "ready_window"
    if rec["status"] not in ("waiting", "ready") or (timer and rec["status"] != "ready"):
        return {"found": True, **_view(ctx.key(), token, rec, meta, now)}
    if timer and now < rec["expiresAt"]:
        # The timer fired early by this clock: look again when the window really ends.
        ctx.object_send(
            markTokenExpired,
            ctx.key(),
            req,
            send_delay=timedelta(milliseconds=rec["expiresAt"] - now),
        )
        return {"found": True, **_view(ctx.key(), token, rec, meta, now)}
    if rec["status"] == "waiting":
        insort(meta["holes"], rec["seq"])
    holders = Holders(ctx)
    ended = await _end(ctx, meta, ready, holders, token, rec, now)
    holders.save()
    ctx.set("ready", ready)
    ctx.set("meta", meta)
    await _emit(ctx, "expiry events", ctx.key(), [ended])
    return {"found": True, **ended.view}


@queue_admission.handler()
async def markTokenUsed(ctx: Ctx, req: dict[str, Any]) -> dict[str, Any]:
    """Spend a ready token on `userId`'s registration. Idempotent for that user, so a
    registration that failed after this step can be retried; refused for anyone else."""
    token, user_id = str(req.get("token") or ""), str(req.get("userId") or "")
    if not user_id:
        raise effects.fail("invalid_request", "userId is required", 400)
    rec = await _record(ctx, token)
    if rec is None:
        raise effects.fail("queue_token_invalid", "this queue token does not exist", 403)
    meta_f, ready_f = ctx.get("meta", type_hint=dict), ctx.get("ready", type_hint=dict)
    meta = dict(await meta_f or {})
    ready = {str(k): int(v) for k, v in (await ready_f or {}).items()}
    now = await effects.now_ms(ctx)
    _check_usable(rec, user_id, now)
    if rec["status"] == "ready":
        rec.update(status="used", usedAt=now, usedBy=user_id)
        ready.pop(token, None)
        meta["ready"], meta["used"] = len(ready), meta["used"] + 1
        ctx.set(f"tok:{token}", rec)
        ctx.set("ready", ready)
        ctx.set("meta", meta)
        view = _view(ctx.key(), token, rec, meta, now)
        await _emit(ctx, "used view", ctx.key(), [Emit(token, view)])
    return {"found": True, **_view(ctx.key(), token, rec, meta, now), "usedBy": user_id}


def _check_usable(rec: Record, user_id: str, now: int) -> None:
    status = rec["status"]
    if status == "used" and rec.get("usedBy") != user_id:
        raise effects.fail("queue_token_used", "this queue token has already been used", 409)
    if status == "expired" or (status == "ready" and now >= rec["expiresAt"]):
        raise effects.fail("queue_token_expired", "this queue token has expired", 410)
    if status == "waiting":
        raise effects.fail("queue_token_not_ready", "this queue token is still waiting", 403)


@queue_admission.handler(kind="shared")
async def checkToken(ctx: restate.ObjectSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """A token's exact status and place in line (read-only; never queues behind a tick)."""
    token = str(req.get("token") or "")
    rec_f = ctx.get(f"tok:{token}", type_hint=dict) if token_is_well_formed(token) else None
    meta_f = ctx.get("meta", type_hint=dict)
    rec, meta = (await rec_f if rec_f is not None else None), await meta_f
    if not rec or not meta:
        return {"found": False, "token": token, "dropId": ctx.key()}
    now = await effects.now_ms(ctx)
    return {"found": True, **_view(ctx.key(), token, rec, meta, now), "usedBy": rec.get("usedBy")}


@queue_admission.handler(kind="shared")
async def getQueueStats(ctx: restate.ObjectSharedContext) -> dict[str, Any]:
    """Counters of the drop's waiting room."""
    meta = await ctx.get("meta", type_hint=dict)
    if not meta:
        return {
            "waitingCount": 0,
            "readyCount": 0,
            "totalIssued": 0,
            "totalAdmitted": 0,
            "totalUsed": 0,
            "totalExpired": 0,
            "admissionLoopActive": False,
        }
    return {
        "waitingCount": meta["waiting"],
        "readyCount": meta["ready"],
        "totalIssued": meta["tail"],
        "totalAdmitted": meta["admitted"],
        "totalUsed": meta["used"],
        "totalExpired": meta["expired"],
        "admissionLoopActive": meta["loop"]["active"],
        "admissionRate": meta["cfg"]["rate"],
        "maxConcurrent": meta["cfg"]["maxConcurrent"],
    }
