import pytest

from services.listening.mentions.influence import influence_score


def test_no_signals_scores_zero() -> None:
    assert influence_score(followers=None) == 0.0
    assert influence_score(followers=0) == 0.0


def test_more_followers_score_higher_but_saturate() -> None:
    scores = [influence_score(followers=n) for n in (10, 1_000, 100_000, 10_000_000, 10**9)]
    assert scores == sorted(scores)
    assert scores[-1] == scores[-2] == 70.0


def test_verified_and_engagement_add_to_reach() -> None:
    base = influence_score(followers=5_000)
    assert influence_score(followers=5_000, verified=True) == pytest.approx(base + 10.0, abs=0.11)
    assert influence_score(followers=5_000, reposts=200) > influence_score(followers=5_000, likes=200) > base


def test_score_is_bounded_and_ignores_negative_counts() -> None:
    assert influence_score(followers=10**9, verified=True, likes=10**9, reposts=10**9, replies=10**9) == 100.0
    assert influence_score(followers=-5, likes=-3) == 0.0
