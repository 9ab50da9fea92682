# ruff: noqa: RUF002, RUF003  (the rule is written in mathematical notation)
"""Spike detection for listening queries: is this bucket's volume, or its negative share, far above normal?

Input is per query and time-bucketed (e.g. hourly): the current bucket's `Bucket(total, negative)` and
the history of previous buckets, oldest first (e.g. the previous 24 hours; empty buckets as zeros).
The baseline is the plain mean of the history, or an exponentially weighted one when
`SpikeRule.half_life` is set (a bucket `half_life` buckets older weighs half as much).

**Volume spike** (`kind="volume"`, observed and baseline are mention counts) when all hold:

1. the history has at least `min_history` buckets (default 6): a new query has no baseline yet;
2. the current count is at least `min_count` (default 10): 1 → 3 mentions is never a spike;
3. it is at least `min_ratio` × the baseline mean (default 2×): far above, not just significantly above;
4. z = (count − mean) / spread ≥ `min_z` (default 3), where spread = max(standard deviation of the
   history, √mean, 1): at least Poisson noise, and more when the history itself is bursty;
5. the Poisson tail P(X ≥ count | λ = max(mean, 0.5)) ≤ `max_p` (default 0.001): small counts over a
   small baseline must be improbable, not just many spreads up. The 0.5 floor gives a flat-zero
   baseline a finite surprise (0 → 10 mentions is a spike, 0 → 3 is not, by rule 2).

**Negative-share spike** (`kind="negative_share"`, observed and baseline are shares 0…1) when all hold:

1. the history has at least `min_history` buckets and at least `min_baseline_total` mentions (default
   20) to estimate the usual share of negative mentions (pooled over the history: Σneg / Σtotal);
2. the current bucket has at least `min_share_total` mentions (default 10) and `min_negative`
   negative ones (default 5);
3. the current share is at least `min_share_rise` (default 0.20, i.e. 20 points) above the baseline;
4. against a binomial with the baseline share (Laplace-smoothed, (neg + 1) / (total + 2), so that a
   history without a single negative mention still gives a finite answer): z ≥ `min_share_z` (3) and
   the tail P(X ≥ negative | n = total, p) ≤ `max_share_p` (0.001).

`score` is the z value (how many spreads above the baseline), `p_value` the tail probability.
The rule is stateless: a lasting surge keeps being reported while the baseline catches up, so the
caller raises an alert when a spike starts (no spike of that kind for that query in the previous
bucket), not on every bucket. Weekly seasonality is not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_RULE",
    "Bucket",
    "Spike",
    "SpikeRule",
    "binomial_tail",
    "detect_spikes",
    "negative_share_spike",
    "poisson_tail",
    "volume_spike",
]

SpikeKind = Literal["volume", "negative_share"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """Mentions of one query in one time bucket, and how many of them were negative."""

    total: int
    negative: int = 0

    def __post_init__(self) -> None:
        if self.total < 0 or self.negative < 0 or self.negative > self.total:
            raise ValueError(f"bucket needs 0 <= negative <= total, got {self.negative}/{self.total}")


@dataclass(frozen=True, slots=True)
class SpikeRule:
    """Thresholds of the spike rule (see the module docstring)."""

    min_history: int = 6
    half_life: float | None = None
    min_count: int = 10
    min_ratio: float = 2.0
    min_z: float = 3.0
    max_p: float = 1e-3
    poisson_floor: float = 0.5
    min_baseline_total: int = 20
    min_share_total: int = 10
    min_negative: int = 5
    min_share_rise: float = 0.20
    min_share_z: float = 3.0
    max_share_p: float = 1e-3


DEFAULT_RULE = SpikeRule()


@dataclass(frozen=True, slots=True)
class Spike:
    """A bucket far above its baseline: `score` is z, `p_value` the tail probability under the baseline."""

    kind: SpikeKind
    observed: float
    baseline: float
    score: float
    p_value: float


def _weights(n: int, half_life: float | None) -> list[float]:
    if half_life is None:
        return [1.0] * n
    if half_life <= 0:
        raise ValueError("half_life must be positive")
    return [0.5 ** ((n - 1 - i) / half_life) for i in range(n)]


def _mean_std(values: Sequence[int], weights: Sequence[float]) -> tuple[float, float]:
    total_weight = sum(weights)
    mean = sum(w * v for w, v in zip(weights, values, strict=True)) / total_weight
    variance = sum(w * (v - mean) ** 2 for w, v in zip(weights, values, strict=True)) / total_weight
    return mean, math.sqrt(variance)


def poisson_tail(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam), computed in log space (stable for large k and lam)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k > lam:
        # Terms fall from pmf(k) on: add them until they no longer matter.
        term = math.exp(k * math.log(lam) - lam - math.lgamma(k + 1))
        total, i = 0.0, k
        while term > total * 1e-16 and term > 0:
            total += term
            i += 1
            term *= lam / i
        return min(1.0, total)
    # 1 − P(X ≤ k − 1): terms fall from pmf(k − 1) downwards.
    term = math.exp((k - 1) * math.log(lam) - lam - math.lgamma(k))
    below, i = 0.0, k - 1
    while i >= 0 and term > below * 1e-16 and term > 0:
        below += term
        term *= i / lam
        i -= 1
    return max(0.0, 1.0 - below)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), computed in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(i: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    odds = p / (1 - p)
    if k > n * p:
        term, total, i = math.exp(log_pmf(k)), 0.0, k
        while i <= n and term > total * 1e-16 and term > 0:
            total += term
            term *= (n - i) / (i + 1) * odds
            i += 1
        return min(1.0, total)
    term, below, i = math.exp(log_pmf(k - 1)), 0.0, k - 1
    while i >= 0 and term > below * 1e-16 and term > 0:
        below += term
        term *= i / (n - i + 1) / odds
        i -= 1
    return max(0.0, 1.0 - below)


def volume_spike(current: int, history: Sequence[int], rule: SpikeRule = DEFAULT_RULE) -> Spike | None:
    """A volume spike if `current` mentions are far above the history's baseline, else None."""
    if current < 0 or any(v < 0 for v in history):
        raise ValueError("counts cannot be negative")
    if len(history) < rule.min_history or current < rule.min_count:
        return None
    mean, std = _mean_std(history, _weights(len(history), rule.half_life))
    if current < rule.min_ratio * mean:
        return None
    z = (current - mean) / max(std, math.sqrt(mean), 1.0)
    if z < rule.min_z:
        return None
    p_value = poisson_tail(current, max(mean, rule.poisson_floor))
    if p_value > rule.max_p:
        return None
    return Spike("volume", float(current), mean, z, p_value)


def negative_share_spike(
    current: Bucket, history: Sequence[Bucket], rule: SpikeRule = DEFAULT_RULE
) -> Spike | None:
    """A negative-share spike if the current bucket's share of negative mentions is far above usual."""
    if len(history) < rule.min_history or sum(b.total for b in history) < rule.min_baseline_total:
        return None
    if current.total < rule.min_share_total or current.negative < rule.min_negative:
        return None
    weights = _weights(len(history), rule.half_life)
    weighted_total = sum(w * b.total for w, b in zip(weights, history, strict=True))
    weighted_negative = sum(w * b.negative for w, b in zip(weights, history, strict=True))
    baseline = weighted_negative / weighted_total
    share = current.negative / current.total
    if share - baseline < rule.min_share_rise:
        return None
    smoothed = (weighted_negative + 1) / (weighted_total + 2)
    n = current.total
    z = (current.negative - n * smoothed) / math.sqrt(n * smoothed * (1 - smoothed))
    if z < rule.min_share_z:
        return None
    p_value = binomial_tail(current.negative, n, smoothed)
    if p_value > rule.max_share_p:
        return None
    return Spike("negative_share", share, baseline, z, p_value)


def detect_spikes(current: Bucket, history: Sequence[Bucket], rule: SpikeRule = DEFAULT_RULE) -> list[Spike]:
    """Every kind of spike the current bucket shows against its history (volume first)."""
    found = [
        volume_spike(current.total, [b.total for b in history], rule),
        negative_share_spike(current, history, rule),
    ]
    return [spike for spike in found if spike is not None]
