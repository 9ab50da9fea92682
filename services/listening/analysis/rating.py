"""A review's star rating as part of its sentiment.

The stars are the reviewer's own verdict; the text of a review is often too short or too polite to carry
one ("Product ok." under one star reads as mild praise). The rule, for a rating of 1-5 stars:

- The stars give a verdict — 1-2 negative, 3 neutral, 4-5 positive — and a score, (stars - 3) / 2.
- The text *agrees* when its label is the verdict: the label stays, the score is the mean of both and
  the confidence is the higher of the text's and the stars' (`STAR_CONFIDENCE`).
- The text is *clear* when it is polar with confidence >= `CLEAR_CONFIDENCE` and |score| >=
  `CLEAR_SCORE`. A clear text that disagrees wins: under 3 stars it keeps its analysis; against the
  stars (a misclicked star, sarcasm) it keeps its label and score with `CONFLICT_CONFIDENCE`, below
  `LOW_CONFIDENCE`, so the mismatch is flagged `low_confidence` for a person to check, not hidden.
- Otherwise the verdict wins, with the score 0.75 * the stars' + 0.25 * the text's (its sign is the
  verdict's) and the stars' confidence.

An intent that contradicts the resulting label follows it: praise under a negative label is a complaint,
a complaint under a positive one is praise. Posts without a rating are left as they are.
"""

from __future__ import annotations

from dataclasses import replace

from .types import Analysis, Intent, Sentiment, SentimentLabel

__all__ = ["CLEAR_CONFIDENCE", "CLEAR_SCORE", "CONFLICT_CONFIDENCE", "STAR_CONFIDENCE", "with_rating"]

CLEAR_CONFIDENCE = 0.75
CLEAR_SCORE = 0.4
CONFLICT_CONFIDENCE = 0.45
# How sure a rating alone is of its verdict: the extremes are unambiguous, 3 stars only "neutral-ish".
STAR_CONFIDENCE = {1: 0.9, 2: 0.75, 3: 0.6, 4: 0.75, 5: 0.9}
_STAR_WEIGHT = 0.75


def _verdict(rating: int) -> SentimentLabel:
    return "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"


def _sentiment(text: Sentiment, rating: int) -> Sentiment:
    verdict, stars = _verdict(rating), (rating - 3) / 2
    if text.label == verdict:
        return Sentiment(verdict, (text.score + stars) / 2, max(text.confidence, STAR_CONFIDENCE[rating]))
    clear = text.label != "neutral" and text.confidence >= CLEAR_CONFIDENCE and abs(text.score) >= CLEAR_SCORE
    if clear and verdict == "neutral":
        return text
    if clear:
        return replace(text, confidence=CONFLICT_CONFIDENCE)
    score = _STAR_WEIGHT * stars + (1 - _STAR_WEIGHT) * text.score
    return Sentiment(verdict, score, STAR_CONFIDENCE[rating])


def _intent(intent: Intent, label: SentimentLabel, confidence: float) -> Intent:
    if intent.label == "praise" and label == "negative":
        return replace(intent, label="complaint", confidence=confidence)
    if intent.label == "complaint" and label == "positive":
        return replace(intent, label="praise", confidence=confidence)
    return intent


def with_rating(result: Analysis, rating: int | None) -> Analysis:
    """The analysis of a review's text combined with its star rating (see the module docstring)."""
    if rating is None:
        return result
    sentiment = _sentiment(result.sentiment, rating)
    intent = _intent(result.intent, sentiment.label, sentiment.confidence)
    return replace(result, sentiment=sentiment, intent=intent)
