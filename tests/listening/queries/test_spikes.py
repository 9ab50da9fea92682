"""Spike rule: volume and negative share far above the recent baseline, and the edge cases around it."""

from __future__ import annotations

import math

import pytest

from services.listening.queries.spikes import (
    Bucket,
    SpikeRule,
    binomial_tail,
    detect_spikes,
    negative_share_spike,
    poisson_tail,
    volume_spike,
)

DAY = 24


def test_empty_history_has_no_baseline() -> None:
    assert volume_spike(500, []) is None
    assert negative_share_spike(Bucket(500, 400), []) is None
    assert detect_spikes(Bucket(500, 400), []) == []


def test_too_short_history_has_no_baseline() -> None:
    assert volume_spike(500, [1, 1, 1, 1, 1]) is None
    assert volume_spike(500, [1] * 6) is not None


@pytest.mark.parametrize(("current", "spike"), [(0, False), (1, False), (3, False), (9, False), (10, True)])
def test_flat_zero_baseline_needs_a_minimum_count(current: int, spike: bool) -> None:
    assert (volume_spike(current, [0] * DAY) is not None) is spike


def test_flat_zero_baseline_spike_has_a_finite_score() -> None:
    spike = volume_spike(25, [0] * DAY)
    assert spike is not None
    assert (spike.kind, spike.observed, spike.baseline) == ("volume", 25.0, 0.0)
    assert math.isfinite(spike.score) and spike.score == 25.0
    assert 0 < spike.p_value < 1e-20


@pytest.mark.parametrize(
    ("history", "current", "spike"),
    [
        ([1, 0, 2, 1, 0, 1] * 4, 3, False),  # 1 → 3: small counts
        ([1, 0, 2, 1, 0, 1] * 4, 8, False),  # under the minimum count
        ([2, 1, 3, 2, 2, 2] * 4, 10, True),  # 2 → 10 is improbable under Poisson(2)
        ([5, 6, 4, 5, 5, 5] * 4, 12, False),  # 2.4 times, but still plausible noise at this level
        ([5, 6, 4, 5, 5, 5] * 4, 20, True),
    ],
)
def test_small_counts(history: list[int], current: int, spike: bool) -> None:
    assert (volume_spike(current, history) is not None) is spike


def test_large_flat_baseline_needs_to_double() -> None:
    history = [1000, 980, 1020, 1010, 990, 1000] * 4
    assert volume_spike(1300, history) is None  # highly significant, but not "far above"
    spike = volume_spike(2500, history)
    assert spike is not None
    assert spike.baseline == pytest.approx(1000)
    assert spike.score > 40


def test_bursty_history_raises_the_bar() -> None:
    bursty = [0, 40] * 12  # mean 20, standard deviation 20
    assert volume_spike(45, bursty) is None
    assert volume_spike(100, bursty) is not None


def test_a_true_spike_after_a_quiet_day() -> None:
    history = [3, 4, 2, 5, 3, 2, 1, 0, 0, 1, 2, 4, 6, 5, 4, 3, 5, 6, 4, 3, 2, 3, 4, 3]
    spike = volume_spike(60, history)
    assert spike is not None
    assert spike.baseline == pytest.approx(sum(history) / 24)
    assert spike.score > 20
    assert spike.p_value < 1e-30


def test_half_life_forgets_an_old_burst() -> None:
    history = [200] + [10] * 23
    assert volume_spike(40, history) is None  # the burst inflates the plain mean and spread
    spike = volume_spike(40, history, SpikeRule(half_life=3))
    assert spike is not None
    assert spike.baseline == pytest.approx(10, abs=1)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        volume_spike(-1, [0] * DAY)
    with pytest.raises(ValueError):
        Bucket(total=3, negative=4)
    with pytest.raises(ValueError):
        volume_spike(10, [1] * DAY, SpikeRule(half_life=0))


def _history(total: int, negative: int) -> list[Bucket]:
    return [Bucket(total, negative)] * DAY


def test_negative_share_spike() -> None:
    spike = negative_share_spike(Bucket(50, 30), _history(40, 4))
    assert spike is not None
    assert spike.kind == "negative_share"
    assert spike.observed == pytest.approx(0.6)
    assert spike.baseline == pytest.approx(0.1)
    assert spike.score > 5 and spike.p_value < 1e-10


@pytest.mark.parametrize(
    ("current", "history", "spike"),
    [
        (Bucket(5, 5), _history(40, 4), False),  # too few mentions now
        (Bucket(12, 4), _history(40, 0), False),  # too few negative mentions now
        (Bucket(12, 6), _history(40, 0), True),  # never negative before, half negative now
        (Bucket(50, 12), _history(40, 4), False),  # 24 % vs 10 %: under the 20-point rise
        (Bucket(50, 16), _history(40, 4), True),  # 32 % vs 10 %
        (Bucket(50, 30), _history(40, 18), False),  # 60 % vs 45 %: a usually negative topic
        (Bucket(50, 30), [Bucket(0, 0)] * DAY, False),  # no baseline share to compare with
        (Bucket(50, 30), [Bucket(1, 0)] * 19, False),  # under 20 mentions of history
        (Bucket(50, 30), [Bucket(1, 0)] * 5, False),  # under 6 buckets of history
    ],
)
def test_negative_share_edge_cases(current: Bucket, history: list[Bucket], spike: bool) -> None:
    assert (negative_share_spike(current, history) is not None) is spike


def test_detect_reports_both_kinds() -> None:
    spikes = detect_spikes(Bucket(200, 150), _history(20, 2))
    assert [s.kind for s in spikes] == ["volume", "negative_share"]
    assert detect_spikes(Bucket(20, 2), _history(20, 2)) == []


def test_rule_thresholds_are_configurable() -> None:
    lenient = SpikeRule(min_count=3, min_ratio=1.5, min_z=2.0, max_p=0.05)
    assert volume_spike(3, [0] * DAY) is None
    assert volume_spike(3, [0] * DAY, lenient) is not None


@pytest.mark.parametrize(
    ("k", "lam", "expected"),
    [
        (0, 3.0, 1.0),
        (1, 1.0, 1 - math.exp(-1)),
        (3, 2.0, 1 - math.exp(-2) * (1 + 2 + 2)),
        (2, 5.0, 1 - math.exp(-5) * 6),
        (5, 0.0, 0.0),
    ],
)
def test_poisson_tail(k: int, lam: float, expected: float) -> None:
    assert poisson_tail(k, lam) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_poisson_tail_is_stable_for_large_numbers() -> None:
    assert poisson_tail(100_000, 10.0) == 0.0
    assert 0.45 < poisson_tail(10_000, 10_000.0) < 0.55
    assert poisson_tail(20, 1.0) == pytest.approx(math.exp(-1) / math.factorial(20), rel=0.1)


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (5, 10, 0.5, sum(math.comb(10, i) for i in range(5, 11)) / 1024),
        (1, 1, 0.3, 0.3),
        (0, 10, 0.3, 1.0),
        (11, 10, 0.3, 0.0),
        (3, 10, 0.0, 0.0),
        (3, 10, 1.0, 1.0),
        (2, 10, 0.5, 1 - 11 / 1024),
    ],
)
def test_binomial_tail(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_tail(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-15)
