"""One small interface over both tiers: `Analyser().analyse(text)` / `analyse_batch(texts)`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arabizi import looks_arabizi, to_arabic
from .cues import CueRules
from .fast import FastTier
from .language import LanguageGuess, detect
from .normalise import Normalised, normalise
from .quality import QualityTier, QualityUnavailable
from .tenant import TenantHead
from .types import Analysis, Tier

# A lexicon verdict this sure replaces the quality head's "neutral" (chosen on the development sets).
LEXICON_SURE = 0.6


class Analyser:
    """Normalise -> detect language -> sentiment -> intent, with the fast or the quality tier.

    The quality tier is the default. If its engine or heads are missing the analyser falls back to the
    fast tier, and every Analysis says which tier produced it.
    """

    def __init__(self, default_tier: Tier = "quality", quality: QualityTier | None = None) -> None:
        self.default_tier: Tier = default_tier
        self.fast = FastTier()
        self.cues = CueRules(self.fast)
        self._quality = quality
        self._quality_error: str | None = None

    @property
    def quality(self) -> QualityTier | None:
        """The quality tier, loaded on first use; None when it cannot be loaded."""
        if self._quality is None and self._quality_error is None:
            try:
                self._quality = QualityTier()
            except QualityUnavailable as exc:
                self._quality_error = str(exc)
        return self._quality

    @property
    def quality_error(self) -> str | None:
        """Why the quality tier is unavailable, if it is."""
        return self._quality_error

    def prepare(self, text: str) -> tuple[Normalised, LanguageGuess]:
        """Hygiene and language detection (shared by both tiers); Arabizi is read in Arabic script."""
        lang = detect(text)
        if lang.language == "ar" and looks_arabizi(text):
            text = to_arabic(text)
        code = lang.language if lang.language not in ("und", "hbs") else None
        return normalise(text, code), lang

    def analyse(self, text: str, tier: Tier | None = None) -> Analysis:
        """Analyse one post."""
        return self.analyse_batch([text], tier)[0]

    def analyse_batch(
        self,
        texts: Sequence[str],
        tier: Tier | None = None,
        heads: Sequence[TenantHead | None] | None = None,
    ) -> list[Analysis]:
        """Analyse many posts; the quality tier embeds them in one batch.

        `heads`, one per text (or None), are the posting tenants' corrections (`tenant.TenantHead`); the
        quality tier applies each to its own post's embedding, last. The fast tier has no embedding and
        ignores them (its posts are re-scored by the quality tier later)."""
        wanted = tier or self.default_tier
        prepared = [self.prepare(t) for t in texts]
        quality = self.quality if wanted == "quality" else None
        if quality is None:
            return [self._fast(norm, lang) for norm, lang in prepared]
        emb = quality.embed([norm.body for norm, _ in prepared])
        return self._quality_answers(quality, prepared, emb, heads)

    def answers_from(self, texts: Sequence[str], emb: np.ndarray) -> list[Analysis] | None:
        """The quality tier's analyses of texts whose embeddings are known already (no tenant's
        corrections applied); None without the quality tier."""
        quality = self.quality
        if quality is None:
            return None
        return self._quality_answers(quality, [self.prepare(t) for t in texts], emb, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        """The quality tier's embedding of each text, read as analysis reads it (for a tenant's
        corrections); None without the quality tier."""
        quality = self.quality
        if quality is None:
            return None
        return quality.embed([self.prepare(t)[0].body for t in texts])

    def _quality_answers(
        self,
        quality: QualityTier,
        prepared: list[tuple[Normalised, LanguageGuess]],
        emb: np.ndarray,
        heads: Sequence[TenantHead | None] | None,
    ) -> list[Analysis]:
        sentiments = quality.sentiment_from(emb)
        intents = quality.intent_from(emb)
        per_post = list(heads) if heads is not None else [None] * len(prepared)
        out: list[Analysis] = []
        for k, ((norm, lang), s, i) in enumerate(zip(prepared, sentiments, intents, strict=True)):
            if not norm.tokens and norm.emojis:
                # Emoji only: nothing for the embedding to read; the emoji lexicon decides.
                s = self.fast.sentiment(norm, lang)
                i = self.fast.intent(norm, lang, s)
            elif s.label == "neutral":
                # The head leans to neutral on short and slangy posts; clear lexicon evidence decides.
                lexical = self.fast.sentiment(norm, lang)
                if lexical.label != "neutral" and lexical.confidence >= LEXICON_SURE:
                    s = lexical
            s, i = self.cues.revise(norm, lang, s, i)
            head = per_post[k]
            if head is not None:
                s, i = head.revise(emb[k], s, i)
            out.append(Analysis("quality", lang, s, i, norm))
        return out

    def _fast(self, norm: Normalised, lang: LanguageGuess) -> Analysis:
        sentiment = self.fast.sentiment(norm, lang)
        intent = self.fast.intent(norm, lang, sentiment)
        sentiment, intent = self.cues.revise(norm, lang, sentiment, intent)
        return Analysis("fast", lang, sentiment, intent, norm)
