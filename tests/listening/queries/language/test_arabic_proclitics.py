"""Arabic words carry proclitics (و، ف، ب، ك، ل، ال) written onto them: a term matches through them."""

from __future__ import annotations

import pytest

from services.listening.queries.language import compile_query, prepare


def matches(expression: str, text: str) -> bool:
    return compile_query(expression).matches(prepare(text))


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("التوصيل", "المنتج ممتاز والتوصيل سريع"),  # و + ال
        ("التوصيل", "مشكلة بالتوصيل مرة أخرى"),  # ب + ال
        ("التوصيل", "شكرا للتوصيل السريع"),  # ل + ال, the alef dropped
        ("التوصيل", "فالتوصيل تأخر"),  # ف + ال
        ("التوصيل", "كالتوصيل"),  # ك + ال
        ("التوصيل", "وبالتوصيل أيضا"),  # و + ب + ال
        ("التوصيل", "وللتوصيل"),  # و + ل + ال
        ("توصيل", "والتوصيل سريع"),  # the bare word through every proclitic
        ("توصيل", "التوصيل"),
        ("توصيل", "وتوصيل"),
        ("مدرسه", "المدرسة"),  # with the folding of teh marbuta
        ("طلبي", "وطلبي لم يصل"),
        ("أحمد", "وأحمد"),  # hamza folded after the proclitic is taken off
        ("نايك", "اشتريت حذاء بنايك"),  # brand names too
        ("توص*", "والتوصيل"),  # prefixes match the word without its proclitics
        ('"خدمة التوصيل"', "خدمة والتوصيل"),  # phrases, position by position
        ("التوصيل NEAR/2 سريع", "والتوصيل كان سريع"),
        ("#التوصيل", "#التوصيل"),
        ("التوصيل", "#والتوصيل"),  # a hashtag's word, as a plain term
    ],
)
def test_a_term_matches_words_with_attached_proclitics(expression: str, text: str) -> None:
    assert matches(expression, text)


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("والتوصيل", "التوصيل"),  # a term with its proclitic asks for it
        ("لد", "ولد"),  # too short a rest: the letter is the word's own
        ("يد", "بيد"),
        ("وصيل", "التوصيل"),  # not a substring search
        ("التوصيل", "توصيل"),  # the article is asked for
        ("#التوصيل", "والتوصيل"),
    ],
)
def test_proclitics_are_not_substrings(expression: str, text: str) -> None:
    assert not matches(expression, text)


def test_latin_and_turkish_terms_are_unchanged() -> None:
    assert matches("istanbul", "İSTANBUL'da kargo gecikti")
    assert not matches("ove", "love")
    assert not matches("ike", "bike")
