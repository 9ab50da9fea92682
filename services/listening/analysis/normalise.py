# ruff: noqa: RUF001  (Turkish, Arabic and Cyrillic letters are the point)
"""Unicode hygiene for social posts: NFKC, language-aware case folding, Arabic normalisation, and the
extraction of URLs, @mentions, #hashtags and emoji (kept as signal, not thrown away)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import emoji

from shared.hashtags import HASHTAG_RE

URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[\w.]*\w)?)", re.UNICODE)
# Letters (any script), digits and apostrophes inside words; emoji are tokenised separately.
WORD_RE = re.compile(r"[^\W_](?:[^\W_]|['’][^\W_])*", re.UNICODE)

# Arabic: harakat/tanween/shadda/sukun, superscript alef, Quranic marks; tatweel.
_AR_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_AR_TATWEEL = "\u0640"
_AR_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        # Eastern Arabic and Persian digits → ASCII (NFKC leaves them alone).
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)
_TRAILING_PUNCT = ".,;:!?)]}»”’'\""


@dataclass(frozen=True)
class Normalised:
    """A post after hygiene: `text` is NFKC (for display/embedding), `folded` is for matching."""

    text: str
    folded: str
    tokens: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    emojis: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        """The text without URLs (what detectors and models should read)."""
        return URL_RE.sub(" ", self.text).strip()


def normalise_arabic(text: str) -> str:
    """Strip harakat and tatweel; unify alef/hamza forms, alef maqsura → yeh, teh marbuta → heh."""
    return _AR_DIACRITICS.sub("", text.replace(_AR_TATWEEL, "")).translate(_AR_MAP)


def fold(text: str, language: str | None = None) -> str:
    """Case-fold for matching: Turkish/Azeri dotted/dotless i when the language says so, else casefold.

    casefold() already maps German ß to ss. Arabic is normalised whatever the language says.
    """
    if language in ("tr", "az"):
        text = text.replace("İ", "i").replace("I", "ı")
    folded = text.casefold()
    if language not in ("tr", "az"):
        # "İ".casefold() is "i̇" (i + combining dot): drop the dot outside Turkish.
        folded = folded.replace("i\u0307", "i")
    return normalise_arabic(folded)


# Letters people drop when they type Bosnian/Croatian/Serbian, Turkish or Swedish on a keyboard without
# them ("svaka cast", "cok iyi", "bast"); lexicons also list each word in this bare form.
_BARE = str.maketrans("čćšžđçğışöüâåä", "ccszdcgisouaaa")
BARE_LANGUAGES = frozenset({"hbs", "bs", "hr", "sr", "tr", "sv"})


def bare(word: str, language: str | None) -> str:
    """`word` (folded) without the diacritics of its language, for the languages often typed without."""
    return word.translate(_BARE) if language in BARE_LANGUAGES else word


# Serbian Cyrillic → Latin (one to one, as Serbian itself writes it), so that one hbs lexicon reads both
# scripts ("смеће" → "smeće"). Applied to tokens only; the text the embedding reads is left as written.
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_SR_LATIN = str.maketrans(
    {
        **dict(zip("абвгдђежзијклмнопрстћуфхцчш", "abvgdđežzijklmnoprstćufhcčš", strict=True)),
        "љ": "lj",
        "њ": "nj",
        "џ": "dž",
    }
)


def latin(token: str) -> str:
    """A token in Serbian Cyrillic, in Latin letters; any other token as it is."""
    return token.translate(_SR_LATIN) if _CYRILLIC.search(token) else token


def _emojis(text: str) -> list[str]:
    return [e["emoji"] for e in emoji.emoji_list(text)]


def normalise(text: str, language: str | None = None) -> Normalised:
    """NFKC, extract URLs/@mentions/#hashtags/emoji, fold for matching and tokenise."""
    nfkc = unicodedata.normalize("NFKC", text)
    urls = [u.rstrip(_TRAILING_PUNCT) for u in URL_RE.findall(nfkc)]
    without_urls = URL_RE.sub(" ", nfkc)
    mentions = [m.casefold() for m in MENTION_RE.findall(without_urls)]
    hashtags = [fold(h, language) for h in HASHTAG_RE.findall(without_urls)]
    emojis = _emojis(nfkc) if not nfkc.isascii() else []
    folded = fold(nfkc, language)
    tokens = [latin(t) for t in WORD_RE.findall(fold(without_urls, language))]
    return Normalised(
        text=nfkc,
        folded=folded,
        tokens=tokens,
        urls=urls,
        mentions=mentions,
        hashtags=hashtags,
        emojis=emojis,
    )
