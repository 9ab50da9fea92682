"""CSAT and NPS from summed survey counters (the aggregation the scorecard shows), without a stack."""

from __future__ import annotations

from collections import Counter

from services.metrics.logic.surveys import csat, nps, survey_scores


def answers(kind: str, *scores: int) -> dict[str, int]:
    return dict(Counter(f"surveys.{kind}.{score}" for score in scores))


def test_csat_is_the_share_of_fours_and_fives() -> None:
    score = csat(answers("csat", 5, 4, 3, 1, 5, 2))
    assert (score.answers, score.satisfied, score.score) == (6, 3, 50.0)
    assert score.by_score == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2}


def test_nps_is_promoters_minus_detractors_in_percent() -> None:
    score = nps(answers("nps", 10, 9, 9, 8, 7, 6, 0))
    assert (score.promoters, score.passives, score.detractors) == (3, 2, 2)
    assert score.score == 14.3  # (3 - 2) / 7, rounded once from the counts
    assert nps(answers("nps", 0, 1, 6)).score == -100.0
    assert nps(answers("nps", 9, 10)).score == 100.0
    assert nps(answers("nps", 7, 8)).score == 0.0


def test_no_answers_give_no_score_and_kinds_do_not_mix() -> None:
    scores = survey_scores({**answers("csat", 5), "conversations.opened": 4})
    assert scores.csat.score == 100.0
    assert (scores.nps.answers, scores.nps.score) == (0, None)
    assert csat({}).score is None
