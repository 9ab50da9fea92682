# ruff: noqa: RUF001
"""Generalising rules over either tier's answer: the shape of an ironic post, laughing at a failure,
praise a tier misread as a complaint or a purchase, would-be customers by grammar, complaints that
cannot be neutral; and the lexicon side of them: denials stressed with "at all", Turkish "yok" closing a
denial, Serbian Cyrillic, Arabizi words, colloquial words.

The rule tests hand each rule a tier's answer directly, so they check the rule and not a model."""

from __future__ import annotations

import pytest

from services.listening.analysis import Analyser
from services.listening.analysis.arabizi import to_arabic
from services.listening.analysis.cues import RULES, CueRules
from services.listening.analysis.fast import FastTier
from services.listening.analysis.language import LanguageGuess
from services.listening.analysis.normalise import normalise
from services.listening.analysis.types import Intent, Sentiment

FAST = FastTier()
RULE_SET = CueRules(FAST)


def _revise(
    text: str, lang: str, sentiment: str, intent: str, confidence: float = 0.4, rules: frozenset[str] = RULES
) -> tuple[str, str]:
    guess = LanguageGuess(lang, 0.9)
    score = {"positive": 0.5, "negative": -0.5}.get(sentiment, 0.0)
    tier = (Sentiment(sentiment, score, 0.5), Intent(intent, confidence, {intent: confidence}))  # type: ignore[arg-type]
    s, i = CueRules(FAST, rules).revise(normalise(text, lang), guess, *tier)
    return s.label, i.label


def _fast(text: str, lang: str) -> tuple[str, str]:
    guess = LanguageGuess(lang, 0.9)
    norm = normalise(text, lang)
    s = FAST.sentiment(norm, guess)
    s, i = RULE_SET.revise(norm, guess, s, FAST.intent(norm, guess, s))
    return s.label, i.label


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Wonderful, my fibre box restarted itself five times during the match.", "en"),
        ("Fantastiskt, appen startade om sig själv mitt i betalningen.", "sv"),
        ("Bravo, kartım yine bloke oldu, market kasasında kaldım.", "tr"),
    ],
)
def test_a_praise_clause_around_what_a_tier_reads_as_a_complaint_is_irony(text: str, lang: str) -> None:
    assert _revise(text, lang, "positive", "complaint") == ("negative", "complaint")


def test_without_the_praise_clause_rule_the_praise_words_win() -> None:
    text = "Wonderful, my fibre box restarted itself five times during the match."
    without = RULES - {"irony_clause", "complaint_negative"}
    assert _revise(text, "en", "positive", "complaint", rules=without)[0] == "positive"


def test_a_clause_of_thanks_opens_sincere_posts_and_is_not_irony() -> None:
    # "Thanks" is a praise cue: the clause does not mark irony, and a sure tier's praise stands.
    assert _revise("Thanks Lumo, the new card reader works a treat.", "en", "positive", "praise") == (
        "positive",
        "praise",
    )
    assert not RULE_SET._praise_clause(
        normalise("Thanks Lumo, the card came today", "en"), LanguageGuess("en", 0.9)
    )


def test_laughing_at_a_failure_the_tier_reads_as_a_complaint_is_negative() -> None:
    text = "Six days and still no answer to my email from Kartly 😂"
    assert _revise(text, "en", "positive", "complaint")[0] == "negative"
    # The same emoji under plain good news is left alone.
    assert _revise("Parcel came a day early 😂 nice one Kartly", "en", "positive", "praise") == (
        "positive",
        "praise",
    )


def test_an_unsure_complaint_in_a_post_of_nothing_but_praise_is_praise() -> None:
    text = "brewly oat flat white is elite, best thing this week"
    assert _revise(text, "en", "positive", "complaint", confidence=0.35) == ("positive", "praise")
    # Failure words keep the complaint.
    assert (
        _revise("best app ever, it crashes every day", "en", "positive", "complaint", 0.35)[1] == "complaint"
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Fibrion'a geçersem modem ücretli mi olur?", "tr"),
        ("لو اشتركت في الباقة السنوية هل في خصم؟", "ar"),
    ],
)
def test_a_would_be_customer_is_read_from_the_conditional(text: str, lang: str) -> None:
    assert _revise(text, lang, "neutral", "question")[1] == "purchase_intent"


def test_a_question_read_as_buying_without_a_buying_word_is_a_question() -> None:
    assert (
        _revise("When does the ShopNest store in Leeds open on Sundays?", "en", "neutral", "purchase_intent")[
            1
        ]
        == "question"
    )
    # With a buying word the tier's reading stands.
    assert _revise("How much is the Voltra X3 in the sale?", "en", "neutral", "purchase_intent")[1] == (
        "purchase_intent"
    )


def test_praise_read_as_buying_or_as_chatter_is_praise() -> None:
    assert (
        _revise("Brewly beans are brilliant, I get them every week", "en", "positive", "purchase_intent")[1]
        == "praise"
    )
    assert _revise("Voltra scooter is fantastic, worth every penny", "en", "positive", "other")[1] == "praise"
    # Company news stays "other".
    assert (
        _revise("Voltra announces a fantastic year, revenue up 20%", "en", "positive", "other")[1] == "other"
    )


def test_a_complaint_with_words_of_failure_is_not_neutral() -> None:
    assert _revise("Kargom 4 gündür depoda, kimse bilgi vermiyor", "tr", "neutral", "complaint") == (
        "negative",
        "complaint",
    )
    assert (
        _revise("Kargom 4 gündür depoda", "tr", "neutral", "complaint", rules=RULES - {"complaint_negative"})[
            0
        ]
        == "neutral"
    )


def test_a_charge_for_something_never_ordered_is_a_complaint() -> None:
    assert _revise(
        "You charged me £9.99 for an add-on I never ordered, cancel it.", "en", "neutral", "purchase_intent"
    ) == ("negative", "complaint")


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("They replaced the cracked screen in a day, brilliant service", "en"),
        ("Zamijenili su pokvareni punjač odmah, svaka čast", "hbs"),
    ],
)
def test_a_replacement_thanked_for_is_a_fixed_problem(text: str, lang: str) -> None:
    assert _revise(text, lang, "negative", "complaint") == ("positive", "praise")


# Lexicon side, through the fast tier.


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Inte ett dugg missnöjd med nya routern, stabil hela månaden", "sv"),
        ("Nije uopšte loša ova nova aplikacija, radi brzo", "hbs"),
        ("not disappointed at all with the new plan", "en"),
    ],
)
def test_a_denial_stressed_with_at_all_is_praise(text: str, lang: str) -> None:
    ev = FAST.evidence(normalise(text, lang), LanguageGuess(lang, 0.9))
    assert ev.negated_negative and ev.emphatic
    assert _fast(text, lang) == ("positive", "praise")


def test_a_stressed_denial_overrules_a_sure_negative_tier() -> None:
    text = "Nije uopšte loše, konačno radi kako treba"
    guess = LanguageGuess("hbs", 0.9)
    s, i = RULE_SET.revise(
        normalise(text, "hbs"), guess, Sentiment("negative", -0.7, 0.8), Intent("complaint", 0.5, {})
    )
    assert (s.label, i.label) == ("positive", "praise")


def test_turkish_yok_closing_a_denial_is_not_a_complaint() -> None:
    ev = FAST.evidence(normalise("oyunda hiç lag yok", "tr"), LanguageGuess("tr", 0.9))
    assert ev.negated_negative == 1 and ev.negative == 0


def test_serbian_cyrillic_is_read_with_the_latin_lexicon() -> None:
    assert normalise("Интернет је смеће, љубазни", "hbs").tokens == ["internet", "je", "smeće", "ljubazni"]
    assert _fast("Ова апликација је смеће", "hbs")[0] == "negative"


def test_arabizi_words_reach_the_arabic_lexicon() -> None:
    assert to_arabic("mish 3atel abadan") == "مش عاطل ابدا"
    analyser = Analyser(default_tier="fast")
    assert analyser.analyse("el app mish 3atel abadan, asra3 men el awel").sentiment.label == "positive"
    assert analyser.analyse("el net 3and novatel zift, kol yom ta2akhar").sentiment.label == "negative"


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("this new menu is lowkey fire", "en", "positive"),
        ("Kanka bu kulaklık efsane, şahane ses", "tr", "positive"),
        ("Brate ova kafa je bomba", "hbs", "positive"),
        ("التطبيق صار زباله وبيهنج", "ar", "negative"),
        ("Appen är dassig och pinsam", "sv", "negative"),
    ],
)
def test_colloquial_words_carry_sentiment(text: str, lang: str, label: str) -> None:
    assert _fast(text, lang)[0] == label


def test_an_eye_roll_over_something_that_keeps_happening_is_irony() -> None:
    text = "Love that my Lumo card gets frozen yet again before payday 🙃"
    assert _revise(text, "en", "positive", "praise") == ("negative", "complaint")
    # The same emoji without a repeat, a failure or a tier's complaint is left alone.
    assert _revise("New Lumo card design 🙃 not sure about the colour", "en", "neutral", "other") == (
        "neutral",
        "other",
    )


def test_a_negated_negative_answered_after_its_own_question_is_praise() -> None:
    text = "was it worth switching? honestly not bad at all, calls are clearer"
    assert _revise(text, "en", "neutral", "other") == ("positive", "praise")
    # A post that ends asking is a question, and the rule leaves it to the tier.
    assert _revise("not bad at all, but does it come in blue?", "en", "neutral", "question")[1] == "question"


def test_failure_verbs_are_complaint_cues() -> None:
    for text, lang in (("They locked me out of my account", "en"), ("Opet su mi blokirali karticu", "hbs")):
        assert FAST.evidence(normalise(text, lang), LanguageGuess(lang, 0.9)).complaint > 0


def test_levantine_and_egyptian_not_bad_is_praise() -> None:
    assert _fast("والله مش وحش ابدا التطبيق الجديد", "ar") == ("positive", "praise")


def test_a_failure_denied_is_not_a_complaint_but_a_remedy_denied_is() -> None:
    hbs = LanguageGuess("hbs", 0.9)
    ev = FAST.evidence(normalise("aplikacija se više ne ruši", "hbs"), hbs)
    assert ev.complaint == 0 and ev.negated_negative == 1
    en = LanguageGuess("en", 0.9)
    assert FAST.evidence(normalise("you did not refund me", "en"), en).complaint > 0
    assert FAST.evidence(normalise("the app crashes", "en"), en).complaint > 0
