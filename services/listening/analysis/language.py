"""Language detection over a wide language set (eldc 0.4.0: 60 languages, n-gram models in the wheel).

A detector restricted to the languages we care about labels every foreign post as one of ours, so we
detect over everything eldc knows and report foreign posts under their own code. Bosnian, Croatian and
Serbian cannot be told apart reliably in one post: they are reported as the macro-language `hbs` with a
low-confidence `variant` hint (Cyrillic script means `sr`). Very short, emoji-only or low-confidence posts
are `und`. Arabizi (Arabic in Latin letters with digits) is `ar`. Our own languages are accepted at a
lower confidence than foreign ones: short slangy or code-switched posts in them score low, and most
traffic is in them, while a foreign language still needs the full floor.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import eldc

from shared.hashtags import HASHTAG_RE

from .arabizi import looks_arabizi
from .normalise import MENTION_RE, URL_RE, WORD_RE

HBS_CODES = frozenset({"hr", "sr", "bs", "sh"})
# The languages the analysers are built and measured for.
SUPPORTED = ("en", "ar", "hbs", "sv", "tr", "de", "fr", "es")
MIN_LETTERS = 4
CONFIDENCE_FLOOR = 0.35
# Floor when the detector's answer is one of SUPPORTED (or a BCS code).
OURS_FLOOR = 0.2
ARABIZI_CONFIDENCE = 0.6
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN_HBS = re.compile(r"[čćđšž]", re.IGNORECASE)

# The detector's tables live in the `eldc` library itself, once per process whichever app loads them:
# this flag only mirrors that library state (it is not an app's state).
_init_lock = threading.Lock()
_initialised = False


@dataclass(frozen=True)
class LanguageGuess:
    """ISO 639-1 code (or `hbs`, or `und`), a confidence in 0..1, and for `hbs` a variant hint."""

    language: str
    confidence: float
    variant: str | None = None
    variant_confidence: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form; the variant keys only appear for `hbs`."""
        out: dict[str, object] = {"language": self.language, "confidence": round(self.confidence, 3)}
        if self.variant is not None:
            out["variant"] = self.variant
            out["variant_confidence"] = round(self.variant_confidence or 0.0, 3)
        return out


UNDETERMINED = LanguageGuess("und", 0.0)


def _ensure_init() -> None:
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if not _initialised:
            eldc.init()
            eldc.set_scores(4)
            _initialised = True


def _strip(text: str) -> str:
    text = URL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    return HASHTAG_RE.sub(" ", text)


def detect(text: str) -> LanguageGuess:
    """Detect the language of one post."""
    _ensure_init()
    body = _strip(text)
    words = WORD_RE.findall(body)
    letters = sum(len(w) for w in words if not w.isdigit())
    if letters < MIN_LETTERS:
        return UNDETERMINED
    if looks_arabizi(body):
        return LanguageGuess("ar", ARABIZI_CONFIDENCE)
    result = eldc.detect_details(body)
    code = result.language
    scores: dict[str, float] = dict(result.scores)
    if code == "und" or not scores:
        return UNDETERMINED
    top = scores.get(code, 0.0)
    runner_up = max(
        (s for c, s in scores.items() if c != code and not (c in HBS_CODES and code in HBS_CODES)),
        default=0.0,
    )
    # Confidence: the model's normalised score, discounted when the runner-up is close or when eldc
    # itself calls the result unreliable (too few n-grams matched).
    confidence = top * min(1.0, 0.5 + (top - runner_up))
    if not result.reliable:
        confidence *= 0.6
    if len(words) <= 2:
        confidence *= 0.7
    confidence = max(0.0, min(1.0, confidence))
    ours = code in SUPPORTED or code in HBS_CODES
    if confidence < (OURS_FLOOR if ours else CONFIDENCE_FLOOR):
        return LanguageGuess("und", confidence)
    if code in HBS_CODES:
        return _hbs(body, scores, confidence)
    return LanguageGuess(code, confidence)


def _hbs(body: str, scores: dict[str, float], confidence: float) -> LanguageGuess:
    if _CYRILLIC.search(body):
        return LanguageGuess("hbs", confidence, "sr", 0.9)
    hr, sr = scores.get("hr", 0.0), scores.get("sr", 0.0)
    variant = "hr" if hr >= sr else "sr"
    # Latin-script bs/hr/sr differ in a few words only: the hint is weak by design.
    gap = abs(hr - sr)
    return LanguageGuess("hbs", confidence, variant, round(min(0.6, 0.34 + gap), 3))


def detect_many(texts: list[str]) -> list[LanguageGuess]:
    """Detect the language of each post."""
    return [detect(t) for t in texts]
