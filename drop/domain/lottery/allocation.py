"""Sizes: one weighted lottery order, handed out by random serial dictatorship.

A drop may offer variants (sizes), each with its own inventory. The draw makes one lottery
order over every entrant, exactly as a drop without variants does, then walks it: each
entrant in turn gets the first variant on their ranked list that still has stock, or
nothing when every variant they ranked is gone. The walk stops once every variant is sold
out (or nobody is left). Backups are the entrants who got nothing, in the same order: first
those the walk passed over, then the next ones in the order, as many as the backup rule
gives for the number of winners. A backup waits for their first choice; when a winner
lapses, the first backup in order who ranked the lapsed variant takes it.

Nobody's place in the order depends on anyone's ranking but through the seed (the Merkle
root), which nobody can predict; for a given order, what an entrant receives depends only
on the rankings of those ahead of them, so ranking one's true preferences is always best.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from drop.domain.errors import DomainError

MAX_VARIANTS = 50


@dataclass(frozen=True)
class Variant:
    """One size of a drop: its id (an id like any other), its label and its stock."""

    id: str
    label: str
    inventory: int

    def to_wire(self) -> dict[str, object]:
        return {"id": self.id, "label": self.label, "inventory": self.inventory}


@dataclass(frozen=True)
class Allocation:
    """Winners then backups, in lottery order, and the variant each was given."""

    winners: tuple[str, ...]
    backups: tuple[str, ...]
    variant_of: Mapping[str, str]


def variant_problems(variants: Sequence[Variant]) -> list[str]:
    """What makes a variant list unusable (empty when it is fine)."""
    found: list[str] = []
    if not 1 <= len(variants) <= MAX_VARIANTS:
        found.append(f"a drop has 1 to {MAX_VARIANTS} variants, not {len(variants)}")
    ids = [v.id for v in variants]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        found.append(f"variant ids repeated: {', '.join(twice)}")
    empty = [v.id for v in variants if v.inventory < 1]
    if empty:
        found.append(f"variants with an inventory below 1: {', '.join(empty)}")
    return found


def ranking_problem(ranking: Sequence[str], known: Iterable[str]) -> str | None:
    """Why a ranked list of variant ids cannot be taken (None when it can)."""
    if not ranking:
        return "rank at least one variant"
    twice = sorted({v for v in ranking if ranking.count(v) > 1})
    if twice:
        return f"variants ranked more than once: {', '.join(twice)}"
    unknown = sorted(set(ranking) - set(known))
    if unknown:
        return f"unknown variants: {', '.join(unknown)}"
    return None


def check_ranking(ranking: Sequence[str], known: Iterable[str]) -> None:
    """Refuse (400 `invalid_variants`) a ranked list that names no, a repeated or an unknown
    variant."""
    problem = ranking_problem(ranking, known)
    if problem is not None:
        raise DomainError("invalid_variants", f"variants: {problem}", 400)


Ranked = tuple[str, Sequence[str]]


def allocate(
    order: Iterable[Ranked], stock: Mapping[str, int], backups_for: Callable[[int], int]
) -> Allocation:
    """Walk ``order`` (the lottery order as (userId, ranked variant ids), lazily: only as
    far as needed is drawn) and give each entrant the first variant they ranked that still
    has stock; ``backups_for(winners)`` says how many backups to name."""
    left = {v: n for v, n in stock.items() if n > 0}
    remaining = sum(left.values())
    walk = iter(order)
    winners: list[str] = []
    passed: list[Ranked] = []
    variant_of: dict[str, str] = {}
    for entrant in walk:
        if remaining == 0:
            walk = itertools.chain((entrant,), walk)
            break
        user, ranking = entrant
        given = next((v for v in ranking if left.get(v, 0) > 0), None)
        if given is None:
            passed.append(entrant)
            continue
        left[given] -= 1
        remaining -= 1
        winners.append(user)
        variant_of[user] = given
    backups = list(itertools.islice(itertools.chain(passed, walk), backups_for(len(winners))))
    for user, ranking in backups:
        variant_of[user] = ranking[0]
    return Allocation(tuple(winners), tuple(u for u, _ in backups), variant_of)


def next_backup_for(
    variant: str,
    backups: Sequence[str],
    rankings: Mapping[str, Sequence[str]],
    promoted: Iterable[str],
) -> str | None:
    """The first backup, in lottery order, not yet promoted who ranked ``variant``."""
    done = set(promoted)
    return next((u for u in backups if u not in done and variant in rankings.get(u, ())), None)
