# ruff: noqa: RUF001
"""The cue rules over both tiers: refund demands, fixed problems, unresolved problems behind polite
words, irony, negated negatives, would-be customers, company news and job adverts."""

from __future__ import annotations

import pytest

from services.listening.analysis import Analyser

TIERS = ["fast", "quality"]


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    a = Analyser()
    assert a.quality is not None, a.quality_error
    return a


CASES = [
    # (text, sentiment, intent)
    ("You took £19.99 twice for one order. Refund the second payment now.", "negative", "complaint"),
    ("Naplatili ste mi pretplatu dva puta ovaj mjesec, vratite novac.", "negative", "complaint"),
    ("Aynı faturayı iki kez ödedim, fazla tutarı iade edin.", "negative", "complaint"),
    ("Sorunum çözüldü, destek ekibine çok teşekkürler!", "positive", "praise"),
    ("The outage was fixed overnight, thanks to your engineers 🙏", "positive", "praise"),
    (
        "Your agent was polite and kind, thank you. But the card is still blocked and I can't pay anything.",
        "negative",
        "complaint",
    ),
    ("Great update 🙃 the app crashes every time I open it", "negative", "complaint"),
    ("Vi söker en kundtjänstmedarbetare i Malmö, ansök senast fredag.", "neutral", "other"),
]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize(("text", "sentiment", "intent"), CASES)
def test_cue_rules_decide_messy_posts_on_both_tiers(
    analyser: Analyser, tier: str, text: str, sentiment: str, intent: str
) -> None:
    result = analyser.analyse(text, tier=tier)  # type: ignore[arg-type]
    assert (result.sentiment.label, result.intent.label) == (sentiment, intent)


def test_a_refund_asked_about_is_not_forced_into_a_complaint(analyser: Analyser) -> None:
    # The quality tier reads this as a question; the refund rule must not turn it into a complaint.
    result = analyser.analyse("How long does a refund usually take to reach my card?", tier="quality")
    assert result.intent.label == "question"


@pytest.mark.parametrize("tier", TIERS)
def test_a_would_be_customer_is_a_lead(analyser: Analyser, tier: str) -> None:
    result = analyser.analyse("If I sign up now, is the first month free?", tier=tier)  # type: ignore[arg-type]
    assert result.intent.label == "purchase_intent"


@pytest.mark.parametrize("tier", TIERS)
def test_not_happy_is_still_negative(analyser: Analyser, tier: str) -> None:
    result = analyser.analyse("Not happy at all, the replacement is broken too.", tier=tier)  # type: ignore[arg-type]
    assert result.sentiment.label == "negative"
