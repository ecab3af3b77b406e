"""The Drop's state layout: config and core, snapshots, entry rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import restate
from pydantic import JsonValue, ValidationError

from apps.worker import effects
from apps.worker.runtime import current
from drop.contracts import DropConfig, DropState, TicketPricing, UserState, VariantLeft
from drop.domain import drop_rules, geo, pricing
from drop.domain.drop_rules import DropRules
from drop.domain.errors import DomainError
from drop.durable import NewDrop, SizeStage

CHUNK = 100
Core = dict[str, Any]


class Row(NamedTuple):
    """An entry row, stored (and sent to settling) as a JSON list in this order, which keeps
    a crowd's chunks compact. The draw reads the first three fields; the rest lets a batch
    publish anyone's status without reading more."""

    user_id: str
    tickets: int
    effective_tickets: int
    rollover_used: int
    paid_entries: int
    cost: float
    loyalty_tier: str
    loyalty_multiplier: float
    geo_bonus: float
    in_geo_zone: bool
    rollover_balance: int
    # On a drop with sizes: the ranked variant ids (stored only there, as a 12th element).
    ranking: tuple[str, ...] = ()

    @classmethod
    def load(cls, raw: Sequence[Any]) -> Row:
        """A row as stored or sent: a JSON list of the fields above, in order."""
        ranked = raw[11] if len(raw) > 11 and isinstance(raw[11], list) else ()
        return cls(
            str(raw[0]),
            int(raw[1]),
            int(raw[2]),
            int(raw[3]),
            int(raw[4]),
            float(raw[5]),
            str(raw[6]),
            float(raw[7]),
            float(raw[8]),
            bool(raw[9]),
            int(raw[10]),
            tuple(str(v) for v in ranked),
        )

    def wire(self) -> list[JsonValue]:
        fields: list[JsonValue] = list(self[:11])
        return [*fields, list(self.ranking)] if self.ranking else fields


# The last field of a row sent to settling: drawn (settled by their own object), and bought.
DRAWN = 1
BOUGHT = 2
AnyCtx = restate.ObjectContext | restate.ObjectSharedContext


def rules(config: DropConfig) -> DropRules:
    fence = geo.fence_from_wire(config.geo_fence) if config.geo_fence else None
    return DropRules(
        inventory=config.inventory,
        registration_start=config.registration_start,
        registration_end=config.registration_end,
        purchase_window_s=config.purchase_window,
        price_unit=config.ticket_price_unit,
        max_tickets=config.max_tickets_per_user,
        backup_multiplier=config.backup_multiplier,
        geo_fence=fence,
        geo_fence_mode=config.geo_fence_mode,
        geo_bonus=config.geo_fence_bonus_multiplier,
    )


def parse_config(req: NewDrop, drop_id: str) -> DropConfig:
    """A new drop's config (its id is the key), refused terminally (400) when it breaks a
    rule."""
    try:
        config = DropConfig.model_validate({**req.model_dump(by_alias=True), "dropId": drop_id})
        drop_rules.validate_rules(
            rules(config), min_purchase_window_s=current().policy.min_purchase_window
        )
    except DomainError as exc:
        raise effects.terminal(exc) from exc
    except (ValidationError, OverflowError) as exc:
        raise effects.fail("invalid_config", "the drop configuration is invalid", 400) from exc
    return config


def not_found(ctx: AnyCtx) -> restate.TerminalError:
    return effects.fail("drop_not_found", f"drop {ctx.key()} does not exist", 404)


async def config_of(ctx: AnyCtx) -> DropConfig:
    raw = await ctx.get("config", type_hint=dict)
    if raw is None:
        raise not_found(ctx)
    return DropConfig.model_validate(raw)


async def core_of(ctx: AnyCtx) -> Core:
    """The drop's core; a drop that was never created ends the call with 404 at once (and
    leaves nothing behind, so the id can still be created)."""
    raw = await ctx.get("core", type_hint=dict)
    if not raw:
        raise not_found(ctx)
    return dict(raw)


def snapshot(config: DropConfig, core: Core) -> DropState:
    return DropState(
        drop_id=config.drop_id,
        phase=core["phase"],
        inventory=core["inventory"],
        initial_inventory=config.inventory,
        participant_count=core["participantCount"],
        total_tickets=core["totalTickets"],
        total_effective_tickets=core["totalEffectiveTickets"],
        winner_count=core["winnerCount"],
        backup_winner_count=core["backupWinnerCount"],
        registration_start=config.registration_start,
        registration_end=config.registration_end,
        purchase_end=core.get("purchaseEnd"),
        purchase_window=config.purchase_window,
        ticket_pricing=TicketPricing(
            price_unit=config.ticket_price_unit,
            max_tickets=config.max_tickets_per_user,
            costs=pricing.costs_table(config.max_tickets_per_user, config.ticket_price_unit),
        ),
        lottery_commitment=core["commitment"],
        beacon=core.get("beacon"),
        geo_fence=config.geo_fence,
        geo_fence_mode=config.geo_fence_mode,
        geo_fence_bonus_multiplier=config.geo_fence_bonus_multiplier,
        product_name=config.product_name,
        product_description=config.product_description,
        image_url=config.image_url,
        version=core["version"],
        variants=sizes_left(config, core),
    )


def sizes_left(config: DropConfig, core: Core) -> list[VariantLeft] | None:
    """Each size's stock left (None on a drop without sizes)."""
    if config.variants is None:
        return None
    left = core.get("variantInventory") or {}
    return [
        VariantLeft(
            id=v.id,
            label=v.label or v.id,
            inventory=int(left.get(v.id, v.inventory)),
            initial_inventory=v.inventory,
        )
        for v in config.variants
    ]


def initial_sizes(config: DropConfig) -> dict[str, int] | None:
    """The per-size stock a new drop's core starts with (None without sizes)."""
    return None if config.variants is None else {v.id: v.inventory for v in config.variants}


# Counters the core of a drop with sizes keeps for the console's per-size funnel (admin only):
# entrants who ranked each size first / at all, and each size's winners and backups drawn.
RANKED_FIRST, RANKED_ANY = "rankedFirst", "rankedAny"
SIZE_WINNERS, SIZE_BACKUPS = "sizeWinners", "sizeBackups"


def count_ranking(core: Core, ranking: Sequence[str]) -> None:
    """Count one entrant's ranked sizes (nothing on a drop without sizes)."""
    if not ranking:
        return
    first = core.setdefault(RANKED_FIRST, {})
    first[ranking[0]] = first.get(ranking[0], 0) + 1
    anywhere = core.setdefault(RANKED_ANY, {})
    for variant in ranking:
        anywhere[variant] = anywhere.get(variant, 0) + 1


def count_drawn(
    core: Core, winners: Sequence[str], backups: Sequence[str], given: Mapping[str, str]
) -> None:
    """Count the winners and backups the draw gave each size (a backup waits for the size
    they ranked first)."""
    core[SIZE_WINNERS] = dict(Counter(given[u] for u in winners))
    core[SIZE_BACKUPS] = dict(Counter(given[u] for u in backups))


def size_funnel(config: DropConfig, core: Core) -> list[SizeStage]:
    """Each size's funnel, from its stock to its sales (empty on a drop without sizes)."""
    counts = {key: core.get(key) or {} for key in (RANKED_FIRST, RANKED_ANY)}
    drawn = {key: core.get(key) or {} for key in (SIZE_WINNERS, SIZE_BACKUPS)}
    return [
        SizeStage(
            id=size.id,
            label=size.label,
            inventory=size.initial_inventory,
            left=size.inventory,
            ranked_first=int(counts[RANKED_FIRST].get(size.id, 0)),
            ranked_any=int(counts[RANKED_ANY].get(size.id, 0)),
            winners=int(drawn[SIZE_WINNERS].get(size.id, 0)),
            backups=int(drawn[SIZE_BACKUPS].get(size.id, 0)),
            sold=size.initial_inventory - size.inventory,
        )
        for size in sizes_left(config, core) or []
    ]


def save(ctx: restate.ObjectContext, config: DropConfig, core: Core) -> DropState:
    """Save the core with a new version; the snapshot it returns is still to be published."""
    core["version"] = core.get("version", 0) + 1
    ctx.set("core", core)
    return snapshot(config, core)


async def commit(ctx: restate.ObjectContext, config: DropConfig, core: Core) -> DropState:
    """Save the core and publish the snapshot (stream + drops index)."""
    snap = save(ctx, config, core)
    await effects.publish_drop_state(ctx, snap)
    return snap


def later(at_ms: int, now_ms: int) -> timedelta:
    return timedelta(milliseconds=max(0, at_ms - now_ms))


def chunk_key(position: int) -> str:
    return f"entries:{(position - 1) // CHUNK}"


async def all_rows(ctx: restate.ObjectContext, count: int) -> list[Row]:
    futures = [ctx.get(f"entries:{n}", type_hint=list) for n in range((count + CHUNK - 1) // CHUNK)]
    out: list[Row] = []
    for future in futures:
        out.extend(Row.load(raw) for raw in await future or [])
    return out


def row_of(state: UserState, ranking: Sequence[str] = ()) -> Row:
    return Row(
        state.user_id,
        state.tickets,
        state.effective_tickets,
        state.rollover_used,
        state.paid_entries,
        state.cost,
        state.loyalty_tier,
        state.loyalty_multiplier,
        state.geo_bonus,
        state.in_geo_zone,
        state.rollover_balance,
        tuple(ranking),
    )


def user_from_row(drop_id: str, position: int, row: Row, **update: Any) -> UserState:
    """The registered user's status rebuilt from their entry row."""
    return UserState(
        drop_id=drop_id,
        user_id=row.user_id,
        status="registered",
        tickets=row.tickets,
        effective_tickets=row.effective_tickets,
        position=position,
        rollover_used=row.rollover_used,
        paid_entries=row.paid_entries,
        cost=row.cost,
        loyalty_tier=row.loyalty_tier,
        loyalty_multiplier=row.loyalty_multiplier,
        geo_bonus=row.geo_bonus,
        in_geo_zone=row.in_geo_zone,
        rollover_balance=row.rollover_balance,
        version=1,
    ).model_copy(update=update)
