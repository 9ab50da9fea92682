# ruff: noqa: RUF001, RUF002  (Turkish, Arabic and other scripts are the point of this module)
"""Folding and tokenising text so that listening queries match accent- and case-insensitively.

`fold(text)` maps a text to its matching form:

1. NFKD (compatibility decomposition: ligatures, full-width forms and precomposed accents come apart),
2. full Unicode case folding (German `ß`/`ẞ` → `ss`, Greek final sigma → sigma),
3. combining diacritics removed for the scripts where they are accents or vowel points (Latin, Greek,
   Cyrillic, Hebrew, Arabic): `č ć š ž` → `c s z`, `İ` → `i`, Arabic harakat and hamza/madda on alef
   (`أ إ آ` → `ا`),
4. letters without a decomposition folded by table: Turkish dotless `ı` → `i`, `đ` → `dj` (the usual
   ASCII spelling in Bosnian/Croatian/Serbian), `ø ł æ œ þ ð ħ`, Arabic `ى` → `ي`, `ة` → `ه`,
   Persian `ی ک`, Eastern Arabic digits → ASCII; tatweel, zero-width characters, emoji variation
   selectors and skin-tone modifiers are deleted,
5. NFC, so that the marks we keep (Indic vowel signs, Japanese voicing marks, Hangul jamo) recompose.

`tokenize(folded)` splits on Unicode word characters (letters, digits, `_` and the combining marks we
keep): `#hashtag` and `@handle` tokens keep their sign (handles may hold dots and a Mastodon `@host`),
each CJK ideograph or kana is one token (those scripts are written without spaces), and each emoji is
a token of its own (emoji are signal). ASCII text takes a fast path (`str.lower`).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "fold_tokens", "token_spans", "tokenize"]


def _mark_ranges() -> str:
    """Character-class ranges of every combining mark (Mn, Mc, Me) in the Basic Multilingual Plane.

    Marks of the supplementary planes (rare historic scripts) are left out on purpose: ranges above
    U+FFFF make every character test of the regular expression several times slower.
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


# Blocks whose combining marks are accents or vowel points: removed when folding.
_STRIPPED_BLOCKS = (
    (0x0300, 0x036F),  # combining diacritical marks (Latin, Greek, Cyrillic)
    (0x0483, 0x0489),  # Cyrillic combining marks
    (0x0591, 0x05C7),  # Hebrew points and accents
    (0x0610, 0x061A),  # Arabic honorific signs
    (0x064B, 0x065F),  # Arabic harakat, hamza above/below, madda
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x06D6, 0x06ED),  # Quranic annotation marks
    (0x1AB0, 0x1AFF),  # combining diacritical marks extended
    (0x1DC0, 0x1DFF),  # combining diacritical marks supplement
    (0x20D0, 0x20FF),  # combining marks for symbols
    (0xFE20, 0xFE2F),  # combining half marks
)

_TABLE: dict[int, str | None] = {
    cp: None
    for lo, hi in _STRIPPED_BLOCKS
    for cp in range(lo, hi + 1)
    if unicodedata.category(chr(cp)) == "Mn"
}
_TABLE.update(
    {
        ord(src): dst
        for src, dst in {
            "ı": "i",  # Turkish dotless i (its capital I case-folds to i already)
            "đ": "dj",
            "ø": "o",
            "ł": "l",
            "æ": "ae",
            "œ": "oe",
            "þ": "th",
            "ð": "d",
            "ħ": "h",
            "ŧ": "t",
            "ى": "ي",  # alef maksura → yeh
            "ة": "ه",  # teh marbuta → heh
            "ی": "ي",  # Persian yeh
            "ک": "ك",  # keheh
            "ٱ": "ا",  # alef wasla
        }.items()
    }
)
_TABLE.update({0x0660 + d: str(d) for d in range(10)})  # Arabic-Indic digits
_TABLE.update({0x06F0 + d: str(d) for d in range(10)})  # Extended Arabic-Indic digits
for _cp in (0x0640, 0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0xFE0E, 0xFE0F):
    _TABLE[_cp] = None  # tatweel, soft hyphen, zero-width characters, variation selectors
for _cp in range(0x1F3FB, 0x1F400):
    _TABLE[_cp] = None  # emoji skin-tone modifiers
del _cp

_MARKS = _mark_ranges()
_W = f"[\\w{_MARKS}]"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_EMOJI = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"

# The sign comes first so that the look-behind (a sign starts a token only after a non-word character)
# is only evaluated at `#` and `@`, not at every position.
_TOKEN_RE = re.compile(
    rf"[#@](?<![\w{_MARKS}@#][#@])"
    rf"(?:(?<=#){_W}+|(?<=@){_W}+(?:[.\-]{_W}+)*(?:@{_W}+(?:[.\-]{_W}+)*)?)"
    rf"|{_W}+"
    rf"|[{_EMOJI}]"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_SPLIT_RE = re.compile(f"[{_CJK}]|[^{_CJK}]+")
_FOLD_RE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_TABLE)) + "]")


def fold(text: str) -> str:
    """The case-, accent- and script-variant-insensitive form of `text` used for matching."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()
    # A regular-expression scan touches only the characters to change; str.translate with a dict looks
    # every character up and is several times slower on mostly-Latin text.
    text = _FOLD_RE.sub(_fold_one, text)
    return unicodedata.normalize("NFC", text)


def _fold_one(match: re.Match[str]) -> str:
    return _TABLE[ord(match.group())] or ""


def tokenize(folded: str) -> list[str]:
    """The tokens of an already folded text (see the module docstring)."""
    if not folded.isascii() and _CJK_RE.search(folded):
        folded = _CJK_RE.sub(r" \g<0> ", folded)
    return _TOKEN_RE.findall(folded)


def fold_tokens(text: str) -> list[str]:
    """`tokenize(fold(text))`."""
    return tokenize(fold(text))


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """The folded tokens of `text` with the [start, end) character span each came from in `text`.

    Tokens are found in the raw text and folded one by one, so in rare cases (a compatibility character
    that folds into two words) the tokens differ slightly from `fold_tokens(text)`; for highlighting.
    """
    spans: list[tuple[str, int, int]] = []
    for match in _TOKEN_RE.finditer(text):
        start, raw = match.start(), match.group()
        pieces = [(raw, start)]
        if not raw.isascii() and _CJK_RE.search(raw):
            pieces = [(m.group(), start + m.start()) for m in _CJK_SPLIT_RE.finditer(raw)]
        for piece, piece_start in pieces:
            for token in tokenize(fold(piece)):
                spans.append((token, piece_start, piece_start + len(piece)))
    return spans
