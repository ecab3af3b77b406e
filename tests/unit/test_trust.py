import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drop.contracts import BehaviorSignalsIn
from drop.domain.trust import (
    DEFAULT_MIN_BEHAVIOR,
    BehaviorSignals,
    behavior_score,
    decide_trust,
    interaction_irregularity,
    trust_score,
)

IRREGULAR = json.dumps({"intervals": [120, 900, 340, 2100, 75, 610]})
CLOCKWORK = json.dumps({"intervals": [100, 100, 100, 100, 100]})

HUMAN = BehaviorSignals(
    mouse_movements=40,
    scroll_events=3,
    key_presses=0,
    focus_blur_events=1,
    visibility_changes=0,
    time_on_page=8_000,
    interaction_patterns=IRREGULAR,
)


def test_no_signals_scores_low() -> None:
    assert behavior_score(BehaviorSignals()) == 0.0


def test_plausible_human_scores_high() -> None:
    assert behavior_score(HUMAN) >= 70


def test_regular_bot_scores_below_human() -> None:
    bot = BehaviorSignals(mouse_movements=40, time_on_page=8_000, interaction_patterns=CLOCKWORK)
    assert behavior_score(bot) < behavior_score(HUMAN)


def test_human_on_the_original_site_passes_without_usable_patterns() -> None:
    """The original client's wire names, a short visit, patterns we cannot read: passes."""
    body = {
        "mouseMovements": 25,
        "scrollEvents": 2,
        "keyPresses": 0,
        "focusBlurEvents": 1,
        "visibilityChanges": 0,
        "timeOnPage": 6_500,
        "interactionPatterns": json.dumps({"clicks": 2, "hovered": ["buy"]}),
    }
    signals = BehaviorSignals(**BehaviorSignalsIn.model_validate(body).model_dump())
    assert behavior_score(signals) >= DEFAULT_MIN_BEHAVIOR


def test_touch_user_passes() -> None:
    touch = BehaviorSignals(scroll_events=6, visibility_changes=1, time_on_page=12_000)
    assert behavior_score(touch) >= DEFAULT_MIN_BEHAVIOR


def test_bot_like_signals_fail() -> None:
    instant = BehaviorSignals(time_on_page=300)
    idle = BehaviorSignals(time_on_page=3_600_000)
    assert behavior_score(instant) < DEFAULT_MIN_BEHAVIOR
    assert behavior_score(idle) < DEFAULT_MIN_BEHAVIOR


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ("", 0.0),
        ("not json", 0.0),
        ("[", 0.0),
        ('"text"', 0.0),
        ("[1, 2]", 0.0),
        (CLOCKWORK, 0.0),
        ("[0, 0, 0]", 0.0),
        ("[1e400, 1e400, 1e400]", 0.0),
        ("[" * 5000 + "]" * 5000, 0.0),
    ],
)
def test_irregularity_of_unusable_patterns_is_zero(patterns: str, expected: float) -> None:
    assert interaction_irregularity(patterns) == expected


def test_irregularity_reads_nested_arrays_and_caps_at_one() -> None:
    nested = json.dumps({"a": {"b": [[10, 500, 30, 4000]]}, "flag": True})
    assert 0.9 < interaction_irregularity(nested) <= 1.0
    assert interaction_irregularity("[1, 1000000, 1, 1000000, 1]") == 1.0
    assert interaction_irregularity(json.dumps([True, False, True])) == 0.0
    assert 0 < interaction_irregularity(IRREGULAR) <= 1


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 86_400_000),
    st.text(max_size=200) | st.just(IRREGULAR),
)
def test_behavior_score_in_range(
    moves: int, scrolls: int, keys: int, focus: int, vis: int, ms: int, patterns: str
) -> None:
    score = behavior_score(BehaviorSignals(moves, scrolls, keys, focus, vis, ms, patterns))
    assert 0.0 <= score <= 100.0


@pytest.mark.parametrize(
    "body",
    [
        {"mouseMovements": 10**6 + 1},
        {"timeOnPage": 86_400_001},
        {"interactionPatterns": "x" * 8_193},
        {"scrollEvents": -1},
    ],
)
def test_signal_bounds_are_enforced(body: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BehaviorSignalsIn.model_validate(body)


def test_trust_weights() -> None:
    assert trust_score(100.0, 5_000, True) == 100.0
    assert trust_score(0.0, 0, False) == 0.0
    assert trust_score(100.0, 0, False) == 40.0
    assert trust_score(90.0, 0, False) == 36.0
    assert trust_score(0.0, 3_000, False) == 30.0
    assert trust_score(0.0, 0, True) == 30.0
    assert trust_score(100.0, 10**9, True, behavior=100.0) == 100.0
    assert trust_score(100.0, 0, False, behavior=0.0) == 35.0
    assert trust_score(0.0, 0, False, behavior=100.0) == 20.0


def test_timing_ramps_between_one_and_three_seconds() -> None:
    assert trust_score(0.0, 500, False) == 0.0
    assert trust_score(0.0, 2_000, False) == 15.0
    assert trust_score(0.0, 10**9, False) == 30.0


@given(st.floats(0, 100), st.integers(0, 10**7), st.booleans(), st.none() | st.floats(0, 100))
def test_trust_in_range(conf: float, timing: int, pow_ok: bool, behavior: float | None) -> None:
    assert 0.0 <= trust_score(conf, timing, pow_ok, behavior) <= 100.0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"fingerprint": ""}, "missing_fingerprint"),
        ({"pow_valid": False}, "invalid_pow"),
        ({"timing_ms": 0, "fingerprint_confidence": 20.0}, "low_trust_score"),
        ({"behavior": 10.0}, "low_behavior_score"),
    ],
)
def test_decide_trust_failures(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "fingerprint": "fp",
        "fingerprint_confidence": 90.0,
        "timing_ms": 5_000,
        "pow_valid": True,
        "min_score": 50.0,
    }
    args.update(kwargs)
    decision = decide_trust(**args)  # type: ignore[arg-type]
    assert not decision.passed
    assert decision.reason == reason


def test_decide_trust_passes_human_at_confidence_90() -> None:
    decision = decide_trust("fp", 90.0, 5_000, True, 50.0, behavior=behavior_score(HUMAN))
    assert decision.passed
    assert decision.reason is None
    assert decision.score >= 50


def test_confidence_on_a_zero_to_one_scale_is_not_mistaken_for_sure() -> None:
    """0.9 means 0.9 %, not 90 %: the contract is 0-100 and 0-1 cannot be told apart."""
    assert trust_score(0.9, 0, False) < 1.0
