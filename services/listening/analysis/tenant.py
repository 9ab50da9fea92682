"""A tenant's own corrections as prototypes over the quality tier's embedding (per-tenant learning).

An agent's correction (`POST /v1/mentions/{id}/labels`) says what one post of that tenant really meant.
`TenantHead` keeps the tenant's corrected posts as prototypes: each is the post's embedding (the same
e5 vector the quality tier computes for every post, so learning costs no extra model) with the corrected
sentiment and/or intent. A later post of the same tenant that lies close to some of them (cosine
similarity ≥ `NEAR`, i.e. the same kind of post in other words) takes the label those neighbours vote for,
weighted by how close each is; a post far from every correction keeps the general answer. So the
tenant's vocabulary and its own idea of, say, a complaint are learnt from a few corrections, and nothing
changes for posts unlike them or for any other tenant (each tenant has its own head, built only from its
own labels).

Bounded and cheap: at most `MAX_PROTOTYPES` corrections per tenant (the newest), one matrix product of
384 x n per post (n ≤ 500: ~0.03 ms), no network. The head is applied after the cue rules: the
tenant's own labelled data is the most specific evidence there is. It is built by
`services.listening.mentions.learning` from the stored corrections; here it is plain numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .types import INTENT_LABELS, SENTIMENT_LABELS, Intent, IntentLabel, Sentiment, SentimentLabel

MAX_PROTOTYPES = 500  # newest corrections kept per tenant
NEAR = 0.89  # cosine similarity from which a correction counts as "the same kind of post"
TOP_K = 5  # neighbours that vote
SHARE = 0.6  # the winning label needs this share of the neighbours' weight
SUPPORT = 2  # neighbours needed: one correction is an anecdote, two that agree are a pattern
DIM = 384


@dataclass(frozen=True)
class Correction:
    """One corrected post: its embedding and what the agent said it is (either part may be missing)."""

    vector: np.ndarray
    sentiment: SentimentLabel | None = None
    intent: IntentLabel | None = None
    machine_sentiment: SentimentLabel | None = None  # what the analyser itself says of the post
    machine_intent: IntentLabel | None = None


class _Votes:
    """The corrections' labels of one kind (sentiment or intent): -1 where a correction said nothing."""

    def __init__(self, labels: list[int], machine: list[int], n_labels: int) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.machine = np.asarray(machine, dtype=np.int64)
        self.n_labels = n_labels

    def vote(self, sims: np.ndarray, machine: int, near: float, support: int) -> tuple[int, float] | None:
        """(label index, share of the weight) from the neighbours at least `near` that the analyser read
        as it reads this post (`machine`), or None. A correction the analyser read otherwise is about a
        different mistake and does not vote; one it read the same and the agent confirmed votes for
        keeping the answer."""
        close = np.flatnonzero((sims >= near) & (self.labels >= 0) & (self.machine == machine))
        if close.size < support:
            return None
        if close.size > TOP_K:
            close = close[np.argsort(sims[close])[-TOP_K:]]
        # Weight grows with closeness above the threshold; a near-duplicate outweighs a loose match.
        weights = (sims[close] - near) + 0.01
        totals = np.bincount(self.labels[close], weights=weights, minlength=self.n_labels)
        best = int(totals.argmax())
        return best, float(totals[best] / totals.sum())


class TenantHead:
    """One tenant's corrections, ready to revise the quality tier's answers for that tenant's posts."""

    def __init__(self, corrections: Sequence[Correction], near: float = NEAR, support: int = SUPPORT) -> None:
        kept = list(corrections)[:MAX_PROTOTYPES]
        self.near = near
        self.support = support
        self.size = len(kept)
        if kept:
            self.matrix = np.stack([_unit(c.vector) for c in kept]).astype(np.float32)
        else:
            self.matrix = np.zeros((0, DIM), np.float32)
        self._sentiment = _Votes(
            [_index(SENTIMENT_LABELS, c.sentiment) for c in kept],
            [_index(SENTIMENT_LABELS, c.machine_sentiment) for c in kept],
            len(SENTIMENT_LABELS),
        )
        self._intent = _Votes(
            [_index(INTENT_LABELS, c.intent) for c in kept],
            [_index(INTENT_LABELS, c.machine_intent) for c in kept],
            len(INTENT_LABELS),
        )

    def revise(self, emb: np.ndarray, sentiment: Sentiment, intent: Intent) -> tuple[Sentiment, Intent]:
        """The answer for one post (`emb`: its L2-normalised embedding), after the tenant's corrections."""
        if self.size == 0:
            return sentiment, intent
        sims = self.matrix @ np.asarray(emb, dtype=np.float32)
        s_vote = self._sentiment.vote(sims, SENTIMENT_LABELS.index(sentiment.label), self.near, self.support)
        if s_vote is not None and s_vote[1] >= SHARE:
            sentiment = _sentiment_as(sentiment, SENTIMENT_LABELS[s_vote[0]], s_vote[1])
        i_vote = self._intent.vote(sims, INTENT_LABELS.index(intent.label), self.near, self.support)
        if i_vote is not None and i_vote[1] >= SHARE:
            intent = _intent_as(intent, INTENT_LABELS[i_vote[0]], i_vote[1])
        return sentiment, intent


def _index(labels: tuple[str, ...], label: str | None) -> int:
    return labels.index(label) if label is not None else -1


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _sentiment_as(s: Sentiment, label: SentimentLabel, share: float) -> Sentiment:
    if s.label == label:
        return s
    score = {"negative": -max(0.3, abs(s.score)), "neutral": 0.0, "positive": max(0.3, abs(s.score))}[label]
    return Sentiment(label, score, round(max(0.5, share), 3))


def _intent_as(i: Intent, label: IntentLabel, share: float) -> Intent:
    if i.label == label:
        return i
    return replace(i, label=label, confidence=round(max(0.5, share), 3))


def vector_bytes(v: np.ndarray) -> bytes:
    """How a correction's embedding is stored (float16, 768 bytes)."""
    return np.asarray(v, dtype=np.float16).reshape(-1).tobytes()


def vector_from(raw: bytes) -> np.ndarray:
    """The stored embedding back as float32."""
    return np.frombuffer(raw, dtype=np.float16).astype(np.float32)
