"""Joining the line: a batch of people per invocation (the API's group commit).

Each join gets the next sequence number, so places stay exact; the device and network
limits are checked per person, so one refused join fails only itself.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from apps.worker import calls, effects, metrics
from apps.worker.queue.line import Holders, InLine, Line
from apps.worker.queue.object import STALE_LOOP_MS, TICK, hash_arg, parse_config, queue_admission
from apps.worker.queue.ready import admit, budget, credited_until, first_credit
from apps.worker.queue.state import (
    Ctx,
    Meta,
    Record,
    meta_of,
    record_of,
    save_meta,
    save_record,
)
from apps.worker.queue.views import announce, emit, view_of
from apps.worker.typed import handler
from drop import durable
from drop.contracts import QueueConfig
from drop.domain.queue_rules import make_queue_token
from drop.durable import Batch, JoinBatch, Joined, JoinIn, Ok, Refused, TokenView, refusal

MAX_BATCH = 500


@dataclass(frozen=True)
class Placed:
    """A place in line a join answers with: made by this batch, or a live one given back."""

    token: str
    rec: Record


def start_loop(ctx: Ctx, meta: Meta, now: int) -> None:
    """Start a new generation of the admission loop unless one is running. Its first tick
    comes a tick from now: the join has just admitted whatever the budget allowed."""
    loop = meta.loop
    if loop.active and now - loop.last_tick_at < STALE_LOOP_MS:
        return
    loop.credit_at = credited_until(loop)  # the liveness clock moves on; the credit's stays
    loop.active, loop.gen, loop.last_tick_at = True, loop.gen + 1, now
    calls.send(ctx, durable.QUEUE_TICK, durable.TickIn(gen=loop.gen), key=ctx.key(), delay=TICK)


def _check(item: JsonValue, cfg: QueueConfig, holders: Holders) -> tuple[str, str] | Refused:
    fp, ip = hash_arg(item, "fingerprintHash"), hash_arg(item, "ipHash")
    if fp is None or ip is None:
        return refusal(400, "invalid_request", "fingerprintHash and ipHash must be hex digests")
    if len(holders.lists[f"fp:{fp}"]) >= cfg.max_per_fingerprint:
        return refusal(
            409, "queue_fingerprint_limit", "this device already has a place in this queue"
        )
    if len(holders.lists[f"ip:{ip}"]) >= cfg.max_per_ip:
        return refusal(
            409, "queue_ip_limit", f"at most {cfg.max_per_ip} waiting places per network"
        )
    return fp, ip


def _at_network_limit(checked: tuple[str, str] | Refused) -> bool:
    return isinstance(checked, Refused) and checked.error.code == "queue_ip_limit"


def _network(item: JsonValue) -> str:
    return f"ip:{hash_arg(item, 'ipHash')}"


async def _rejoin(
    ctx: Ctx,
    holders: Holders,
    item: JsonValue,
    refused: Refused,
    made: dict[str, Record],
    meta: Meta,
    now: int,
) -> Placed | None:
    """The live place a device at its limit already holds from this network: a join whose
    answer was lost and is sent again gets that place back instead of 409. The device's
    tokens are read in the order of its list, so a replay reads the same records."""
    if refused.error.code != "queue_fingerprint_limit":
        return None
    fp, ip = hash_arg(item, "fingerprintHash"), hash_arg(item, "ipHash")
    for token in holders.lists[f"fp:{fp}"]:
        rec = made.get(token) or await record_of(ctx, token)
        if rec is None or rec.ip != ip:
            continue
        if view_of(ctx.key(), token, rec, meta, now).status in ("waiting", "ready"):
            return Placed(token, rec)
    return None


def _joined(view: TokenView) -> Ok[Joined]:
    joined = Joined(
        success=True,
        token=view.token,
        status=view.status,
        position=view.position,
        ahead_of_you=view.ahead_of_you,
        total_in_queue=view.total_in_queue,
        estimated_wait_seconds=view.estimated_wait_seconds,
        expires_at=view.expires_at,
    )
    return Ok[Joined](ok=joined)


def _hashes(item: JsonValue) -> list[str]:
    if not isinstance(item, dict):
        return []
    return [f"fp:{item.get('fingerprintHash')}", f"ip:{item.get('ipHash')}"]


@handler(queue_admission)
async def joinBatch(ctx: Ctx, req: JoinBatch) -> Batch[Joined]:
    """Give each person in the batch a place in line; `results[i]` is `{"ok": ...}` or
    `{"error": ...}`. `config` carries the API's queue settings. While nobody waits ahead
    of them, people are admitted at once, as far as the admission budget allows (the same
    credit the loop's ticks spend): their record is written once, already ready, and no
    tick or status poll is needed for them."""
    drop_id = ctx.key()
    items = req.joins[:MAX_BATCH]
    cfg = parse_config(req.config)
    meta_f = meta_of(ctx)
    holders = Holders(ctx)
    await holders.load([k for item in items for k in _hashes(item)])
    stored = await meta_f
    meta = stored or Meta(cfg=cfg)
    meta.cfg = cfg

    def stamp() -> dict[str, Any]:
        """The clock and each token's secret part, journaled together."""
        return {"now": int(time.time() * 1000), "random": [secrets.token_hex(16) for _ in items]}

    drawn = await ctx.run_typed("join stamp", stamp)
    now = int(drawn["now"])
    if stored is None:
        meta.loop.credit, meta.loop.credit_at = first_credit(cfg), now
    # Only while the line is empty: a newcomer never passes anyone who joined earlier, and
    # once one of the batch waits, everyone after it waits too.
    room = budget(meta, now) if meta.waiting == 0 else 0
    placed: list[Placed | Refused] = []
    line = Line(ctx)
    made: dict[str, Record] = {}
    admitted: dict[str, Record] = {}
    for item, random_part in zip(items, drawn["random"], strict=True):
        checked = _check(item, cfg, holders)
        if _at_network_limit(checked) and await holders.drop_spent(_network(item), made):
            checked = _check(item, cfg, holders)
        if isinstance(checked, Refused):
            placed.append(await _rejoin(ctx, holders, item, checked, made, meta, now) or checked)
            continue
        fp, ip = checked
        token = make_queue_token(drop_id, str(random_part))
        seq = meta.tail + 1
        wait_until = now + int(cfg.max_age_s * 1000)
        await line.append(seq, InLine(token, now, wait_until))
        rec = Record(seq=seq, status="waiting", fp=fp, ip=ip, joined_at=now, wait_until=wait_until)
        meta.tail, meta.waiting = seq, meta.waiting + 1
        if room > 0:
            room -= 1
            meta.head = seq + 1
            admitted[token] = rec  # written once below, already ready
        else:
            save_record(ctx, token, rec)
        made[token] = rec
        holders.lists[f"fp:{fp}"].append(token)
        holders.lists[f"ip:{ip}"].append(token)
        placed.append(Placed(token, rec))
    meta.holes = [h for h in meta.holes if h >= meta.head]
    line.save(ctx)
    holders.save()
    announced = admit(ctx, meta, admitted, now)
    announced += [
        announce(drop_id, t, view_of(drop_id, t, r, meta, now), "queue_position", "j")
        for t, r in made.items()
        if t not in admitted
    ]
    if len(made) > len(admitted):
        start_loop(ctx, meta, now)
    save_meta(ctx, meta)
    await emit(ctx, "join events", drop_id, announced, meta=meta)
    metrics.count(metrics.QUEUE_JOINS, drop_id, len(made))
    metrics.count(metrics.QUEUE_ADMISSIONS, drop_id, len(admitted))
    views = {e.token: e.view for e in announced}
    results: list[Ok[Joined] | Refused] = [
        p
        if isinstance(p, Refused)
        else _joined(views.get(p.token) or view_of(drop_id, p.token, p.rec, meta, now))
        for p in placed
    ]
    return Batch[Joined](results=results)


@handler(queue_admission)
async def joinQueue(ctx: Ctx, req: JoinIn) -> Joined:
    """One join (a batch of one), for callers of the fixed name `QueueAdmission/<id>/joinQueue`."""
    joins: list[JsonValue] = [{"fingerprintHash": req.fingerprint_hash, "ipHash": req.ip_hash}]
    return effects.only(await joinBatch(ctx, JoinBatch(joins=joins, config=req.config)))
