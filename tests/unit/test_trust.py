import pytest
from hypothesis import given
from hypothesis import strategies as st

from drop.domain.trust import BehaviorSignals, behavior_score, decide_trust, trust_score

HUMAN = BehaviorSignals(
    mouse_moves=40,
    scrolls=3,
    key_presses=0,
    focus_changes=1,
    visibility_changes=0,
    time_on_page_ms=8_000,
    interaction_variance=0.6,
)


def test_no_signals_scores_low() -> None:
    assert behavior_score(BehaviorSignals()) == 0.0


def test_plausible_human_scores_high() -> None:
    assert behavior_score(HUMAN) >= 70


def test_regular_bot_scores_below_human() -> None:
    bot = BehaviorSignals(mouse_moves=40, time_on_page_ms=8_000, interaction_variance=0.0)
    assert behavior_score(bot) < behavior_score(HUMAN)


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 10**9),
    st.floats(0, 1),
)
def test_behavior_score_in_range(
    moves: int, scrolls: int, keys: int, focus: int, vis: int, ms: int, var: float
) -> None:
    score = behavior_score(BehaviorSignals(moves, scrolls, keys, focus, vis, ms, var))
    assert 0.0 <= score <= 100.0


def test_trust_weights() -> None:
    assert trust_score(1.0, 5_000, True) == 100.0
    assert trust_score(0.0, 0, False) == 0.0
    assert trust_score(1.0, 0, False) == 40.0
    assert trust_score(0.0, 3_000, False) == 30.0
    assert trust_score(0.0, 0, True) == 30.0
    assert trust_score(1.0, 10**9, True, behavior=100.0) == 100.0
    assert trust_score(1.0, 0, False, behavior=0.0) == 35.0
    assert trust_score(0.0, 0, False, behavior=100.0) == 20.0


def test_timing_ramps_between_one_and_three_seconds() -> None:
    assert trust_score(0.0, 500, False) == 0.0
    assert trust_score(0.0, 2_000, False) == 15.0
    assert trust_score(0.0, 10**9, False) == 30.0


@given(st.floats(0, 1), st.integers(0, 10**7), st.booleans(), st.none() | st.floats(0, 100))
def test_trust_in_range(conf: float, timing: int, pow_ok: bool, behavior: float | None) -> None:
    assert 0.0 <= trust_score(conf, timing, pow_ok, behavior) <= 100.0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"fingerprint": ""}, "missing_fingerprint"),
        ({"pow_valid": False}, "invalid_pow"),
        ({"timing_ms": 0, "fingerprint_confidence": 0.2}, "low_trust_score"),
        ({"behavior": 10.0}, "low_behavior_score"),
    ],
)
def test_decide_trust_failures(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "fingerprint": "fp",
        "fingerprint_confidence": 0.9,
        "timing_ms": 5_000,
        "pow_valid": True,
        "min_score": 50.0,
    }
    args.update(kwargs)
    decision = decide_trust(**args)  # type: ignore[arg-type]
    assert not decision.passed
    assert decision.reason == reason


def test_decide_trust_passes_human() -> None:
    decision = decide_trust("fp", 0.9, 5_000, True, 50.0, behavior=behavior_score(HUMAN))
    assert decision.passed
    assert decision.reason is None
    assert decision.score >= 50
