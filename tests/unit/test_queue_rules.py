from hypothesis import given
from hypothesis import strategies as st

from drop.domain.queue_rules import admissions_this_tick, estimated_wait_seconds


def test_estimated_wait() -> None:
    assert estimated_wait_seconds(0, 20, 0, 50) == 0
    assert estimated_wait_seconds(1, 20, 0, 50) == 1
    assert estimated_wait_seconds(40, 20, 0, 50) == 2
    assert estimated_wait_seconds(41, 20, 50, 50) == 3
    assert estimated_wait_seconds(-3, 20, 0, 50) == 0
    assert estimated_wait_seconds(5, 0, 0, 50) == 5


def test_admissions_respect_rate_and_slots() -> None:
    assert (
        admissions_this_tick(waiting=100, ready=0, max_concurrent=50, rate=20, tick_seconds=1) == 20
    )
    assert admissions_this_tick(100, 40, 50, 20, 1) == 10
    assert admissions_this_tick(100, 50, 50, 20, 1) == 0
    assert admissions_this_tick(3, 0, 50, 20, 1) == 3
    assert admissions_this_tick(100, 0, 50, 20, 0.25) == 5
    assert admissions_this_tick(100, 0, 50, 0.1, 1) == 1
    assert admissions_this_tick(100, 0, 50, 0, 1) == 0
    assert admissions_this_tick(100, 60, 50, 20, 1) == 0


@given(
    st.integers(0, 10_000),
    st.integers(0, 200),
    st.integers(1, 200),
    st.floats(0, 1000),
    st.floats(0.01, 10),
)
def test_admissions_bounds(waiting: int, ready: int, cap: int, rate: float, tick: float) -> None:
    n = admissions_this_tick(waiting, ready, cap, rate, tick)
    assert 0 <= n <= waiting
    assert ready + n <= max(cap, ready)
