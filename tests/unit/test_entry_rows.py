"""Entry rows: typed in code, stored as the same compact JSON list as before."""

from __future__ import annotations

import json

from apps.worker.drops.state import Row, row_of, user_from_row
from drop.contracts import UserState

# A chunk row exactly as the previous build stored it (cost and multipliers may be ints).
STORED = ["u1", 3, 4, 1, 1, 1, "silver", 1, 1.5, True, 2]


def test_a_stored_row_loads_with_its_types() -> None:
    row = Row.load(json.loads(json.dumps(STORED)))
    assert row.user_id == "u1" and row.tickets == 3 and row.effective_tickets == 4
    assert isinstance(row.cost, float) and row.cost == 1.0
    assert row.loyalty_multiplier == 1.0 and row.geo_bonus == 1.5
    assert row.in_geo_zone is True and row.rollover_balance == 2


def test_a_row_stores_as_the_same_json_list() -> None:
    row = Row.load(STORED)
    assert json.loads(json.dumps(row.wire())) == STORED
    assert isinstance(row.wire(), list) and len(row.wire()) == 11


def test_a_user_round_trips_through_their_row() -> None:
    user = UserState(
        drop_id="d",
        user_id="u1",
        status="registered",
        tickets=3,
        effective_tickets=4,
        position=7,
        rollover_used=1,
        paid_entries=1,
        cost=1.0,
        loyalty_tier="silver",
        loyalty_multiplier=1.2,
        geo_bonus=1.5,
        in_geo_zone=True,
        rollover_balance=2,
        version=1,
    )
    assert user_from_row("d", 7, Row.load(row_of(user).wire())) == user
    lost = user_from_row("d", 7, row_of(user), status="loser")
    assert lost.status == "loser" and lost.tickets == 3
