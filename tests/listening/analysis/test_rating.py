"""A review's star rating is part of its sentiment (services.listening.analysis.rating)."""

from __future__ import annotations

import pytest

from services.listening.analysis import Analyser
from services.listening.analysis.rating import CONFLICT_CONFIDENCE, STAR_CONFIDENCE, with_rating
from services.listening.analysis.types import LOW_CONFIDENCE, Analysis, Intent, Sentiment

_BASE = Analyser().analyse("Product ok.", "fast")


def text(label: str, score: float, confidence: float, intent: str = "other") -> Analysis:
    """The fast tier's analysis of a post with its sentiment and intent replaced."""
    return Analysis(
        _BASE.tier,
        _BASE.language,
        Sentiment(label, score, confidence),  # type: ignore[arg-type]
        Intent(intent, 0.6),  # type: ignore[arg-type]
        _BASE.normalised,
    )


MILD_PRAISE = text("positive", 0.47, 0.55, "praise")  # what "Product ok." reads as
RAVE = text("positive", 0.98, 0.98, "praise")
RANT = text("negative", -0.96, 0.96, "complaint")


@pytest.mark.parametrize(
    ("rating", "label"), [(1, "negative"), (2, "negative"), (3, "neutral"), (5, "positive")]
)
def test_the_stars_decide_when_the_text_is_not_clear(rating: int, label: str) -> None:
    combined = with_rating(MILD_PRAISE, rating).sentiment
    assert combined.label == label
    assert combined.confidence == STAR_CONFIDENCE[rating]
    # The score has the verdict's sign (3 stars: a small lean is kept, the label is neutral).
    assert (combined.score < 0) == (label == "negative") and abs(combined.score) <= 1


def test_praise_under_one_star_is_a_complaint() -> None:
    assert with_rating(MILD_PRAISE, 1).intent.label == "complaint"
    assert with_rating(MILD_PRAISE, 3).intent.label == "praise"  # no contradiction with neutral


def test_agreeing_stars_and_text_make_a_surer_answer() -> None:
    combined = with_rating(RAVE, 5).sentiment
    assert combined.label == "positive"
    assert combined.score == pytest.approx((0.98 + 1.0) / 2)
    assert combined.confidence == 0.98


def test_a_clear_text_against_the_stars_keeps_its_label_flagged_low_confidence() -> None:
    for analysis, rating in ((RANT, 5), (RAVE, 1)):
        combined = with_rating(analysis, rating)
        assert combined.sentiment.label == analysis.sentiment.label
        assert combined.sentiment.confidence == CONFLICT_CONFIDENCE < LOW_CONFIDENCE
        assert combined.low_confidence
        assert combined.intent.label == analysis.intent.label


def test_three_stars_keep_a_clear_text() -> None:
    assert with_rating(RANT, 3) == RANT


def test_posts_without_a_rating_are_unchanged() -> None:
    assert with_rating(MILD_PRAISE, None) is MILD_PRAISE


@pytest.mark.parametrize("tier", ["fast", "quality"])
def test_a_one_star_product_ok_is_negative_with_both_tiers(tier: str) -> None:
    analyser = Analyser()
    combined = with_rating(analyser.analyse("Product ok.", tier), 1)  # type: ignore[arg-type]
    assert combined.sentiment.label == "negative"
    assert combined.intent.label != "praise"
