# ruff: noqa: RUF001  (posts and queries in Turkish, Arabic and full-width script are the point)
"""Folding and tokenising: the rules every listening query relies on."""

from __future__ import annotations

import pytest

from services.listening.queries.language import fold, fold_tokens


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("İSTANBUL", "istanbul"),
        ("Istanbul", "istanbul"),
        ("ıstanbul", "istanbul"),
        ("DİYARBAKIR", "diyarbakir"),
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("Ärger über Öl", "arger uber ol"),
        ("čćšžđ ČĆŠŽĐ", "ccszdj ccszdj"),
        ("Đorđe", "djordje"),
        ("café CAFÉ cafe\u0301", "cafe cafe cafe"),
        ("ﬁle Ｎｉｋｅ", "file nike"),
        ("Smørrebrød Łódź Æble", "smorrebrod lodz aeble"),
    ],
)
def test_fold_latin_scripts(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمن", "امن"),
        ("مُحَمَّد", "محمد"),
        ("جـــميل", "جميل"),
        ("مستشفى", "مستشفي"),
        ("مدرسة", "مدرسه"),
        ("١٢٣٤٥", "12345"),
    ],
)
def test_fold_arabic(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_keeps_marks_that_are_not_accents() -> None:
    assert fold("नमस्ते") == "नमस्ते"
    assert fold("が") == "が"


def test_tokens_split_on_word_characters_and_keep_signs() -> None:
    text = "RT @Nike_Help: Kargo #Gecikti!! joe@example.com İstanbul'da… 😡👍🏽"
    assert fold_tokens(text) == [
        "rt",
        "@nike_help",
        "kargo",
        "#gecikti",
        "joe",
        "example",
        "com",
        "istanbul",
        "da",
        "😡",
        "👍",
    ]


def test_tokens_of_mastodon_and_bluesky_handles() -> None:
    assert fold_tokens("@alice@mastodon.social and @bob.bsky.social.") == [
        "@alice@mastodon.social",
        "and",
        "@bob.bsky.social",
    ]


def test_cjk_characters_are_tokens_of_their_own() -> None:
    assert fold_tokens("iPhone新品が出た") == ["iphone", "新", "品", "が", "出", "た"]


def test_indic_words_stay_whole() -> None:
    assert fold_tokens("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
