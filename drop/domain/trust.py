"""Bot-defense scoring: fingerprint, timing, proof-of-work and behaviour signals."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

TIMING_FLOOR_MS = 1_000
TIMING_FULL_MS = 3_000
DEFAULT_MIN_BEHAVIOR = 30.0
MIN_SERIES = 3
MAX_SERIES = 200  # arrays (and values per array) read from interactionPatterns


@dataclass(frozen=True)
class BehaviorSignals:
    """What a browser observed before registering (``behaviorSignals``, docs/contract.md,
    Registration).

    ``interaction_patterns`` is the client's JSON-encoded string; see
    :func:`interaction_irregularity` for what is read from it.
    """

    mouse_movements: int = 0
    scroll_events: int = 0
    key_presses: int = 0
    focus_blur_events: int = 0
    visibility_changes: int = 0
    time_on_page: int = 0  # ms
    interaction_patterns: str = ""


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


def _finite(v: float) -> float:
    """A JSON number as a float; huge integers become inf (and are then left out)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _number_series(value: object) -> list[list[float]]:
    """Every array of numbers in a decoded JSON value, at any depth."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _number_series(v)]
    if not isinstance(value, list):
        return []
    numbers = [_finite(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(value) and value:
        return [numbers]
    return [s for v in value for s in _number_series(v)]


def _variation(series: list[float]) -> float:
    """Coefficient of variation of non-negative, finite values; 0 below three of them."""
    values = [v for v in series if math.isfinite(v) and v >= 0]
    if len(values) < MIN_SERIES:
        return 0.0
    mean = sum(values) / len(values)
    if mean <= 0:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean


def interaction_irregularity(patterns: str) -> float:
    """0..1: how irregular the client's interaction timings are.

    ``patterns`` is JSON; every array of at least three numbers in it, at any depth, is read
    as intervals between interactions (ms), and the most irregular one counts (coefficient
    of variation, capped at 1). Humans are irregular, scripts tick like clocks. Anything
    else, including text that is not JSON, scores 0: the signal is a bonus, never required.
    """
    if not patterns:
        return 0.0
    try:
        series = _number_series(json.loads(patterns))
    except (ValueError, RecursionError):
        return 0.0
    variations = [_variation(s[:MAX_SERIES]) for s in series[:MAX_SERIES]]
    return _clamp01(max(variations, default=0.0))


def behavior_score(s: BehaviorSignals) -> float:
    """Score behaviour 0..100: each signal earns points, saturating at a plausible level.

    - mouse movements: 25 points, full at 20
    - scroll events: 10 points, full at 3
    - key presses: 10 points, full at 5
    - focus/blur events: 5 points, full at 1; visibility changes: 5 points, full at 1
    - time on page: 20 points, 0 below 1 s, full at 5 s, linear between
    - irregularity of interaction intervals (from ``interactionPatterns``): 25 points,
      full at a coefficient of variation of 0.3

    No signals at all scores 0. A person on a page that sends no usable patterns still
    passes the default bar of 30 by moving the mouse a little for a few seconds (45), or,
    on a touch screen, by scrolling and switching tabs for a few seconds (30+).
    """
    time_part = _clamp01((s.time_on_page - 1_000) / 4_000)
    score = (
        25 * _saturating(s.mouse_movements, 20)
        + 10 * _saturating(s.scroll_events, 3)
        + 10 * _saturating(s.key_presses, 5)
        + 5 * _saturating(s.focus_blur_events, 1)
        + 5 * _saturating(s.visibility_changes, 1)
        + 20 * time_part
        + 25 * _clamp01(interaction_irregularity(s.interaction_patterns) / 0.3)
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
    """Trust 0..100 from fingerprint confidence (0..100), timing, PoW and optional behaviour.

    Weights are fingerprint 40 / timing 30 / PoW 30, or 35 / 25 / 20 / 20 when a
    behaviour score (0..100) is given.
    """
    fingerprint = _clamp01(fingerprint_confidence / 100)
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
