"""The two customer-satisfaction measures, from a distribution of answers (`surveys.<kind>.<score>` → how
many answers gave that score; the scorecard tallies its period's answer rows into one):

* CSAT: the share of CSAT answers of 4 or 5 among all CSAT answers (1-5), as a percentage;
* NPS: the percentage of promoters (9-10) minus the percentage of detractors (0-6) among all NPS answers
  (0-10), from -100 to 100.

Either is null over a period without answers of its kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.metrics.schemas import CsatScore, NpsScore, SurveyScores

PREFIX = "surveys."
CSAT_SCALE = range(1, 6)
NPS_SCALE = range(0, 11)
CSAT_SATISFIED = frozenset({4, 5})
NPS_PROMOTERS = frozenset({9, 10})
NPS_DETRACTORS = frozenset(range(0, 7))


def _distribution(totals: Mapping[str, int], kind: str, scale: range) -> dict[int, int]:
    return {score: totals.get(f"{PREFIX}{kind}.{score}", 0) for score in scale}


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1)


def csat(totals: Mapping[str, int]) -> CsatScore:
    """CSAT over summed counters: the percentage of satisfied answers (4-5)."""
    by_score = _distribution(totals, "csat", CSAT_SCALE)
    answers = sum(by_score.values())
    satisfied = sum(n for score, n in by_score.items() if score in CSAT_SATISFIED)
    return CsatScore(
        answers=answers,
        satisfied=satisfied,
        score=_percent(satisfied, answers) if answers else None,
        by_score={str(score): n for score, n in by_score.items()},
    )


def nps(totals: Mapping[str, int]) -> NpsScore:
    """NPS over summed counters: % promoters (9-10) minus % detractors (0-6)."""
    by_score = _distribution(totals, "nps", NPS_SCALE)
    answers = sum(by_score.values())
    promoters = sum(n for score, n in by_score.items() if score in NPS_PROMOTERS)
    detractors = sum(n for score, n in by_score.items() if score in NPS_DETRACTORS)
    return NpsScore(
        answers=answers,
        promoters=promoters,
        passives=answers - promoters - detractors,
        detractors=detractors,
        # From the counts, not from two rounded percentages.
        score=_percent(promoters - detractors, answers) if answers else None,
        by_score={str(score): n for score, n in by_score.items()},
    )


def survey_scores(totals: Mapping[str, int]) -> SurveyScores:
    """Both measures over a period's summed counters."""
    return SurveyScores(csat=csat(totals), nps=nps(totals))
