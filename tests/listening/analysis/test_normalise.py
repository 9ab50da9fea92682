# ruff: noqa: RUF001  (Turkish dotless i and Arabic letters are the point)
"""Unicode hygiene: NFKC, Turkish and German case folding, Arabic forms, emoji, URLs, @mentions, #hashtags."""

from __future__ import annotations

from services.listening.analysis import fold, normalise


def test_turkish_dotted_and_dotless_i_fold_by_turkish_rules_when_language_is_tr() -> None:
    assert fold("İSTANBUL", "tr") == "istanbul"
    assert fold("IŞIK", "tr") == "ışık"
    assert fold("ılık", "tr") == "ılık"


def test_turkish_capitals_fold_by_default_rules_in_other_languages() -> None:
    assert fold("IRAN", "en") == "iran"
    assert fold("İSTANBUL", "en") == "istanbul"  # no stray combining dot


def test_german_sharp_s_folds_to_ss() -> None:
    assert fold("Straße") == fold("STRASSE") == "strasse"


def test_nfkc_unifies_compatibility_forms() -> None:
    n = normalise("ｆｕｌｌｗｉｄｔｈ ﬁne ①")
    assert n.text == "fullwidth fine 1"


def test_arabic_diacritics_tatweel_and_letter_forms_are_normalised() -> None:
    assert fold("أَحْمَد") == "احمد"  # harakat stripped, hamza-on-alef unified
    assert fold("إسلام آمال") == "اسلام امال"
    assert fold("جمـــيل") == "جميل"  # tatweel
    assert fold("مستشفى مكتبة") == "مستشفي مكتبه"  # alef maqsura, teh marbuta
    assert fold("٢٠٢٤") == "2024"


def test_emoji_are_kept_as_signal() -> None:
    n = normalise("Love it 😍😍 👍🏽 ❤️")
    assert n.emojis == ["😍", "😍", "👍🏽", "❤️"]
    assert "😍" in n.text


def test_urls_mentions_and_hashtags_are_extracted() -> None:
    n = normalise(
        "@ZipCart where is my order? https://t.co/abc123. #Fail #Kundtjänst mail me a@b.com www.example.org/x"
    )
    assert n.urls == ["https://t.co/abc123", "www.example.org/x"]
    assert n.mentions == ["zipcart"]
    assert n.hashtags == ["fail", "kundtjänst"]
    assert "https" not in n.tokens and "t.co" not in n.body


def test_tokens_are_folded_words_without_punctuation() -> None:
    n = normalise("Don't STOP!! Ça va?", "fr")
    assert n.tokens == ["don't", "stop", "ça", "va"]
