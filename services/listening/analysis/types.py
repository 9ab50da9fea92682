"""What an analysis says about one mention; every part carries its own confidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .language import LanguageGuess
from .normalise import Normalised

Tier = Literal["fast", "quality"]
SentimentLabel = Literal["negative", "neutral", "positive"]
IntentLabel = Literal["complaint", "question", "praise", "purchase_intent", "other"]

SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
INTENT_LABELS: tuple[IntentLabel, ...] = ("purchase_intent", "complaint", "question", "praise", "other")
# Below this an answer is flagged `low_confidence` (said, not hidden).
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Sentiment:
    """label, score in -1..1 (negative..positive), confidence in 0..1."""

    label: SentimentLabel
    score: float
    confidence: float


@dataclass(frozen=True)
class Intent:
    """The chosen intent, its confidence, and every intent's score (0..1)."""

    label: IntentLabel
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """One mention understood by one tier."""

    tier: Tier
    language: LanguageGuess
    sentiment: Sentiment
    intent: Intent
    normalised: Normalised

    @property
    def low_confidence(self) -> bool:
        """True when the language, sentiment or intent answer is unsure."""
        return (
            self.language.language == "und"
            or self.sentiment.confidence < LOW_CONFIDENCE
            or self.intent.confidence < LOW_CONFIDENCE
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form that fits `shared.events.contracts.Analysis` (extra keys are additive)."""
        return {
            "language": self.language.language,
            "language_confidence": round(self.language.confidence, 3),
            "language_variant": self.language.variant,
            "language_variant_confidence": self.language.variant_confidence,
            "sentiment": {
                "label": self.sentiment.label,
                "score": round(self.sentiment.score, 3),
                "confidence": round(self.sentiment.confidence, 3),
            },
            "intent": self.intent.label,
            "intent_confidence": round(self.intent.confidence, 3),
            "intent_scores": {k: round(v, 3) for k, v in self.intent.scores.items()},
            "tier": self.tier,
            "low_confidence": self.low_confidence,
            "entities": {
                "urls": self.normalised.urls,
                "mentions": self.normalised.mentions,
                "hashtags": self.normalised.hashtags,
                "emojis": self.normalised.emojis,
            },
        }
