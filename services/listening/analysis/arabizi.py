# ruff: noqa: RUF001, RUF003  (Arabic letters are the point)
"""Arabizi: Arabic typed in Latin letters, with digits for the sounds Latin lacks (2 = ء, 3 = ع, 5 = خ,
7 = ح, 9 = ق ...), as written across the Levant, Egypt and the Gulf.

`looks_arabizi` tells such posts apart from ordinary Latin-script text by those digits standing inside
words ("7abibi", "ta2akhar", "si3r") and by common Arabizi function words. `to_arabic` writes a post
in Arabic script, letter by letter, so that the lexicons and the embedding model read it as Arabic: the
result is rough (short vowels are guessed away), but it is Arabic, where the Latin form reads as noise.
"""

from __future__ import annotations

import re

# A digit that stands for a letter: between letters, or opening a word before a letter, or closing
# a word of at least two letters ("sari3"); "x3" or "500" are not Arabizi.
_LETTER_DIGIT = re.compile(r"^(?:[a-z]*[a-z][235679][a-z]+|[235679][a-z]{2,}|[a-z]{2,}[235679])$")
_WORD = re.compile(r"[a-z0-9']+")
_LATIN = re.compile(r"[A-Za-z]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_FUNCTION_WORDS = frozenset(
    "el il al w wel fi fe mn min men 3al 3ala ana enta enti inta inti ya msh mish mesh mafi ma "
    "la2 aywa eh leh lesh shu sho shou wala law lw kteer ktir kter awi 2awi keda kida hayda hada "
    "bas bs lessa lissa ba2a ya3ni yani 5alas khalas inshallah wallah walla habibi 7abibi shokran "
    "shukran merci yalla b2a baddi badi 3ayez 3ayz ana".split()
)

# Longest first: digraphs before single letters.
_LETTERS: list[tuple[str, str]] = [
    ("sh", "ش"),
    ("ch", "ش"),
    ("kh", "خ"),
    ("gh", "غ"),
    ("th", "ث"),
    ("dh", "ذ"),
    ("ou", "و"),
    ("oo", "و"),
    ("ee", "ي"),
    ("ei", "ي"),
    ("ai", "ي"),
    ("aa", "ا"),
    # A hamza before a vowel sits on an alef ("ta2akhar" = تأخر, read as تاخر after normalisation).
    ("2a", "ا"),
    ("2e", "ا"),
    ("2", "ء"),
    ("3", "ع"),
    ("5", "خ"),
    ("6", "ط"),
    ("7", "ح"),
    ("8", "غ"),
    ("9", "ق"),
    ("b", "ب"),
    ("p", "ب"),
    ("t", "ت"),
    ("j", "ج"),
    ("g", "ج"),
    ("d", "د"),
    ("r", "ر"),
    ("z", "ز"),
    ("s", "س"),
    ("c", "ك"),
    ("f", "ف"),
    ("v", "ف"),
    ("q", "ق"),
    ("k", "ك"),
    ("l", "ل"),
    ("m", "م"),
    ("n", "ن"),
    ("h", "ه"),
    ("w", "و"),
    ("y", "ي"),
    ("x", "كس"),
    ("i", "ي"),
    ("o", "و"),
    ("u", "و"),
]
# Common words whose letter-by-letter rendering loses them (short vowels, loanwords): written as Arabic
# writes them, so that negators, intensifiers and everyday evaluative words reach the lexicons.
_WORDS: dict[str, str] = {
    **dict.fromkeys(("msh", "mish", "mesh", "mush", "mosh"), "مش"),
    **dict.fromkeys(("mafi", "mafish", "mafeesh", "mfish"), "مافي"),
    **dict.fromkeys(("mo", "mu"), "مو"),
    **dict.fromkeys(("abadan", "abadn", "abadann", "abdan"), "ابدا"),
    **dict.fromkeys(("ktir", "kteer", "kter", "ktiir"), "كتير"),
    **dict.fromkeys(("awi", "2awi", "awy", "2awy"), "اوي"),
    **dict.fromkeys(("merci", "mersi", "mercii"), "ميرسي"),
    **dict.fromkeys(("shokran", "shukran", "shokran", "shoukran"), "شكرا"),
    **dict.fromkeys(("7elw", "7elwa", "7ilw", "7ilwa", "helw", "helwa"), "حلو"),
    **dict.fromkeys(("wa7ed", "wa7ad", "wahed"), "واحد"),
    **dict.fromkeys(("3atel", "3atil"), "عاطل"),
    **dict.fromkeys(("zift", "zeft"), "زفت"),
    **dict.fromkeys(("sayye2", "sayyi2", "sayi2", "sai2"), "سيء"),
    **dict.fromkeys(("mumtaz", "momtaz", "mumtaaz"), "ممتاز"),
    **dict.fromkeys(("ra2e3", "ra2i3", "rai3", "raye3"), "رائع"),
    **dict.fromkeys(("wallah", "wallahi", "walla"), "والله"),
    **dict.fromkeys(("7aram", "7ram", "haram"), "حرام"),
    **dict.fromkeys(("3alaykom", "3alaikom", "3alekom", "3aleikom", "3likom"), "عليكم"),
}
_LETTER_RE = re.compile("|".join(re.escape(k) for k, _ in _LETTERS))
_LETTER_MAP = dict(_LETTERS)
_WORD_OR_OTHER = re.compile(r"(https?://\S+|www\.\S+|[@#]\w+)|([A-Za-z0-9']+)")


def looks_arabizi(text: str) -> bool:
    """True for Latin-script posts written in Arabizi."""
    if _ARABIC.search(text) or not _LATIN.search(text):
        return False
    words = _WORD.findall(text.casefold())
    digit_words = sum(1 for w in words if _LETTER_DIGIT.match(w))
    function_words = sum(1 for w in words if w in _FUNCTION_WORDS)
    return digit_words >= 2 or (digit_words == 1 and function_words >= 2)


def _word(word: str) -> str:
    w = word.casefold().replace("'", "")
    if w.isdigit():
        return word
    if w in ("el", "il", "al"):
        return "ال"
    if w in _WORDS:
        return _WORDS[w]
    # A leading vowel is an alef; short a/e inside a word are not written.
    lead = ""
    if w[0] in "aeiou":
        lead, w = "ا", w[1:] if w[0] in "ae" else w
    body = _LETTER_RE.sub(lambda m: _LETTER_MAP[m.group(0)], w)
    body = body.replace("a", "").replace("e", "")
    # A word-final -a is usually written (ة/ا): keep it as alef.
    if w.endswith("a") and len(w) > 2:
        body += "ا"
    return lead + body


def to_arabic(text: str) -> str:
    """Arabic-script rendering of an Arabizi post; URLs, @mentions and #hashtags are left as they are."""
    return _WORD_OR_OTHER.sub(lambda m: m.group(1) or _word(m.group(2)), text)
