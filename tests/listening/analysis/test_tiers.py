# ruff: noqa: RUF001
"""Both tiers behind one interface: labels, tier names, confidences, and accuracy floors.

The accuracy floors are measured on the project's own labelled set (tests/data/analysis, written by the
project) and on the held-out human-rated vader tweets, so these tests fail if the analyser regresses.
"""

from __future__ import annotations

import pytest

from services.listening.analysis import Analyser, Analysis
from services.listening.analysis.evaluate import Scores, load_set, score_set
from services.listening.analysis.types import INTENT_LABELS, SENTIMENT_LABELS

SAMPLES = [
    "@ZipCart my parcel is three days late and nobody answers. Awful.",
    "Kako da promijenim adresu dostave?",
    "Tusen tack, bästa kundtjänsten! 😍",
    "Bu telefonu satın almak istiyorum, fiyatı ne kadar?",
    "😀😀",
]


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    a = Analyser()
    assert a.quality is not None, a.quality_error
    return a


def _check(result: Analysis, tier: str) -> None:
    assert result.tier == tier
    assert result.sentiment.label in SENTIMENT_LABELS
    assert -1.0 <= result.sentiment.score <= 1.0
    assert 0.0 <= result.sentiment.confidence <= 1.0
    assert result.intent.label in INTENT_LABELS
    assert 0.0 <= result.intent.confidence <= 1.0
    d = result.as_dict()
    assert d["tier"] == tier and isinstance(d["low_confidence"], bool)


@pytest.mark.parametrize("tier", ["fast", "quality"])
def test_each_tier_labels_posts_and_says_which_tier_it_was(analyser: Analyser, tier: str) -> None:
    results = analyser.analyse_batch(SAMPLES, tier=tier)  # type: ignore[arg-type]
    assert len(results) == len(SAMPLES)
    for r in results:
        _check(r, tier)
    assert results[0].normalised.mentions == ["zipcart"]


def test_quality_is_the_default_tier(analyser: Analyser) -> None:
    assert analyser.analyse("Thank you, great service!").tier == "quality"


def test_emoji_only_post_is_und_and_flagged_low_confidence(analyser: Analyser) -> None:
    for tier in ("fast", "quality"):
        r = analyser.analyse("😀😀", tier=tier)
        assert r.language.language == "und"
        assert r.low_confidence


def test_fast_tier_handles_negation_and_precedence() -> None:
    a = Analyser(default_tier="fast")
    assert a.analyse("The service was good").sentiment.label == "positive"
    assert a.analyse("The service was not good").sentiment.label == "negative"
    # A question that wants to buy is purchase intent, not a question.
    assert a.analyse("How much is the premium plan? I want to buy it").intent.label == "purchase_intent"
    # A question mark inside a complaint does not make it a question.
    assert a.analyse("Why is the app broken again?? Terrible.").intent.label == "complaint"
    assert a.analyse("What time do you open on Sunday?").intent.label == "question"


def test_quality_tier_reads_questions_about_an_existing_order_as_questions(analyser: Analyser) -> None:
    # Order logistics are help requests, not purchase intent (tests/data/analysis/README.md labelling rules).
    posts = [
        "How do I change the delivery address of my order?",
        "Wie ändere ich die Lieferadresse meiner Bestellung?",
        "Comment puis-je modifier l'adresse de livraison de ma commande ?",
        "¿Cómo cambio la dirección de entrega de mi pedido?",
    ]
    labels = [r.intent.label for r in analyser.analyse_batch(posts, tier="quality")]
    assert labels == ["question"] * len(posts)
    buying = analyser.analyse("How much is the pro plan? I want to upgrade today.", tier="quality")
    assert buying.intent.label == "purchase_intent"


@pytest.fixture(scope="module")
def fast_scores(analyser: Analyser) -> Scores:
    return score_set(analyser, "fast", load_set())


@pytest.fixture(scope="module")
def quality_scores(analyser: Analyser) -> Scores:
    return score_set(analyser, "quality", load_set())


def test_language_accuracy_meets_target_on_labelled_set(fast_scores: Scores) -> None:
    # Both tiers share the detector.
    assert fast_scores.rate("language") >= 0.97
    for lang in fast_scores.n:
        assert fast_scores.rate("language", lang) >= 0.9, lang


def test_fast_tier_accuracy_floors(fast_scores: Scores) -> None:
    # Measured 0.869 / 0.896 (lexicons written by the same author as the set: optimistic).
    assert fast_scores.rate("sentiment") >= 0.82
    assert fast_scores.rate("intent") >= 0.85


def test_quality_tier_accuracy_floors(quality_scores: Scores) -> None:
    # Floors at the targets where met, else the measured value minus a small margin (see report).
    assert quality_scores.rate("sentiment") >= QUALITY_SENTIMENT_FLOOR
    assert quality_scores.rate("intent") >= QUALITY_INTENT_FLOOR


QUALITY_SENTIMENT_FLOOR = 0.80
QUALITY_INTENT_FLOOR = 0.80


def test_analysis_dict_fits_the_mention_event_contract(analyser: Analyser) -> None:
    from shared.events.contracts import Analysis as AnalysisContract

    for tier in ("fast", "quality"):
        d = analyser.analyse("Dostavljate li u Sarajevo? @ZipCart 😍", tier=tier).as_dict()
        contract = AnalysisContract.model_validate(d)
        assert contract.tier == tier
        assert contract.language == "hbs" and d["language_variant"] in {"hr", "sr", "bs"}
        assert d["entities"] == {"urls": [], "mentions": ["zipcart"], "hashtags": [], "emojis": ["😍"]}
