"""Bot-defense scoring: fingerprint, timing, proof-of-work and behaviour signals."""

from __future__ import annotations

import math
from dataclasses import dataclass

TIMING_FLOOR_MS = 1_000
TIMING_FULL_MS = 3_000
DEFAULT_MIN_SCORE = 50.0
DEFAULT_MIN_BEHAVIOR = 30.0


@dataclass(frozen=True)
class BehaviorSignals:
    """Counters a browser collects before registering.

    ``interaction_variance`` is the irregularity (0..1) of intervals between interactions:
    humans are irregular, scripted clients tick like clocks.
    """

    mouse_moves: int = 0
    scrolls: int = 0
    key_presses: int = 0
    focus_changes: int = 0
    visibility_changes: int = 0
    time_on_page_ms: int = 0
    interaction_variance: float = 0.0


@dataclass(frozen=True)
class TrustDecision:
    """The trust score and whether it passes; ``reason`` says why not."""

    score: float
    passed: bool
    reason: str | None


def _clamp01(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return max(0.0, min(1.0, x))


def _saturating(count: int, full_at: int) -> float:
    """0..1, linear in ``count`` until ``full_at``: a few signals are as good as many."""
    return _clamp01(count / full_at)


def behavior_score(s: BehaviorSignals) -> float:
    """Score behaviour 0..100: each signal earns points, saturating at a plausible level.

    - mouse moves: 25 points, full at 20 moves
    - scrolls: 10 points, full at 3
    - key presses: 10 points, full at 5
    - focus/blur changes: 5 points, full at 1; visibility changes: 5 points, full at 1
    - time on page: 20 points, 0 below 1 s, full at 5 s, linear between
    - irregularity of interaction intervals: 25 points, full at 0.3

    No signals at all scores 0; a human who moves the mouse, scrolls a little and spends a
    few irregular seconds on the page scores 70+. Points are additive so a touch-screen
    user without mouse or keyboard can still pass the default bar of 30.
    """
    time_part = _clamp01((s.time_on_page_ms - 1_000) / 4_000)
    score = (
        25 * _saturating(s.mouse_moves, 20)
        + 10 * _saturating(s.scrolls, 3)
        + 10 * _saturating(s.key_presses, 5)
        + 5 * _saturating(s.focus_changes, 1)
        + 5 * _saturating(s.visibility_changes, 1)
        + 20 * time_part
        + 25 * _clamp01(s.interaction_variance / 0.3)
    )
    return round(score, 2)


def timing_factor(timing_ms: int) -> float:
    """0..1: under 1 s is bot-fast (0), 3 s or more is human (1), linear between."""
    return _clamp01((timing_ms - TIMING_FLOOR_MS) / (TIMING_FULL_MS - TIMING_FLOOR_MS))


def trust_score(
    fingerprint_confidence: float,
    timing_ms: int,
    pow_valid: bool,
    behavior: float | None = None,
) -> float:
    """Trust 0..100 from fingerprint confidence (0..1), timing, PoW and optional behaviour.

    Weights are fingerprint 40 / timing 30 / PoW 30, or 35 / 25 / 20 / 20 when a
    behaviour score (0..100) is given.
    """
    fingerprint = _clamp01(fingerprint_confidence)
    timing = timing_factor(timing_ms)
    pow_part = 1.0 if pow_valid else 0.0
    if behavior is None:
        score = 40 * fingerprint + 30 * timing + 30 * pow_part
    else:
        score = 35 * fingerprint + 25 * timing + 20 * pow_part + 20 * _clamp01(behavior / 100)
    return round(score, 2)


def decide_trust(
    fingerprint: str,
    fingerprint_confidence: float,
    timing_ms: int,
    pow_valid: bool,
    min_score: float,
    behavior: float | None = None,
    min_behavior: float = DEFAULT_MIN_BEHAVIOR,
) -> TrustDecision:
    """Decide whether a registration looks human.

    Fails with reason "missing_fingerprint", "invalid_pow", "low_trust_score" or
    "low_behavior_score", checked in that order.
    """
    score = trust_score(fingerprint_confidence, timing_ms, pow_valid, behavior)
    reason: str | None = None
    if not fingerprint or not fingerprint.strip():
        reason = "missing_fingerprint"
    elif not pow_valid:
        reason = "invalid_pow"
    elif score < min_score:
        reason = "low_trust_score"
    elif behavior is not None and behavior < min_behavior:
        reason = "low_behavior_score"
    return TrustDecision(score=score, passed=reason is None, reason=reason)
