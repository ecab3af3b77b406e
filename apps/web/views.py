"""Template set-up and the small pure helpers pages use to describe a drop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

PHASE_LABELS = {
    "upcoming": "Opens soon",
    "registration": "Entries open",
    "lottery": "Drawing",
    "purchase": "Winners buying",
    "completed": "Ended",
}


@dataclass(frozen=True)
class Countdown:
    """What the big clock counts down to, as of the server's clock."""

    label: str
    target: int | None
    remaining_ms: int


def display_phase(drop: dict[str, Any], now_ms: int) -> str:
    """The phase a visitor sees: registration before its start reads as "upcoming"."""
    phase = str(drop.get("phase", ""))
    if phase == "registration" and now_ms < int(drop.get("registrationStart") or 0):
        return "upcoming"
    return phase


def countdown(drop: dict[str, Any], now_ms: int) -> Countdown:
    phase = display_phase(drop, now_ms)
    targets: dict[str, tuple[str, Any]] = {
        "upcoming": ("Entries open in", drop.get("registrationStart")),
        "registration": ("Entries close in", drop.get("registrationEnd")),
        "purchase": ("Purchase window closes in", drop.get("purchaseEnd")),
    }
    if phase not in targets:
        label = "Drawing winners now" if phase == "lottery" else "This drop has ended"
        return Countdown(label, None, 0)
    label, target = targets[phase]
    if target is None:
        return Countdown(label, None, 0)
    return Countdown(label, int(target), max(0, int(target) - now_ms))


def format_duration(ms: int) -> str:
    """``1d 02:03:04`` / ``02:03:04`` / ``03:04``: what a countdown shows before JS ticks it."""
    total = max(0, ms) // 1000
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{minutes:02d}:{seconds:02d}"
    if hours or days:
        clock = f"{hours:02d}:{clock}"
    return f"{days}d {clock}" if days else clock


def format_money(amount: float) -> str:
    return f"${amount:,.2f}"


def format_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%d %b %Y, %H:%M UTC")


def iso_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def short_hash(value: str | None, keep: int = 10) -> str:
    if not value:
        return "—"
    return value if len(value) <= 2 * keep else f"{value[:keep]}…{value[-keep:]}"


def remaining_stock(drop: dict[str, Any]) -> str:
    left, total = int(drop.get("inventory", 0)), int(drop.get("initialInventory", 0))
    return f"{left:,} of {total:,} left" if left != total else f"{total:,} available"


def fence_summary(drop: dict[str, Any]) -> str | None:
    fence = drop.get("geoFence")
    if not isinstance(fence, dict):
        return None
    name = fence.get("name") or ("the marked area")
    if drop.get("geoFenceMode") == "exclusive":
        return f"Only people in {name} can enter."
    bonus = float(drop.get("geoFenceBonusMultiplier") or 1.5)
    return f"Entries from {name} count {bonus:g}× in the draw."


def build_templates(*, reload: bool = False) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    env = templates.env
    env.auto_reload = reload  # a stat() per template per render otherwise
    env.filters.update(
        duration=format_duration,
        money=format_money,
        when=format_time,
        iso=iso_time,
        short_hash=short_hash,
    )
    env.globals.update(
        phase_labels=PHASE_LABELS,
        display_phase=display_phase,
        countdown=countdown,
        remaining_stock=remaining_stock,
        fence_summary=fence_summary,
    )
    return templates
