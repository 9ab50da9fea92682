"""Grouping reposts and quotes of the same text: exact fingerprints and near-duplicate sketches.

Both work on `normalise(text)`: the retweet prefix (`RT @user:`, also `MT`/`QT`), URLs, the @mentions a
reply starts with, a trailing `via @user`, a word cut off by a platform's truncation `…`, emoji, `#`
signs, punctuation, case, accents and whitespace are removed (folding as in `queries.language`).

* `fingerprint(text)`: a stable 128-bit BLAKE2b hex digest of that form, the same in every process and
  release (unlike `hash()`); equal fingerprints mean the same words in the same order. A post with no
  words falls back to its emoji, then to its folded raw text (so link-only posts group by link); a blank
  post has no fingerprint (`None`).
* `sketch(text)`: a bottom-k MinHash sketch (the `SKETCH_SIZE` smallest 64-bit hashes of the word
  bigrams; the single word of a one-word post). `similarity(a, b)` estimates the Jaccard similarity of
  the two bigram sets from the sketches; it is exact when both posts have at most `SKETCH_SIZE` bigrams,
  which covers most social posts. `is_near_duplicate` applies `NEAR_DUPLICATE_THRESHOLD` (0.6: measured
  on the realistic reposts in the tests — edited retweets, added emoji or a short comment, truncation,
  diacritics dropped — which score 0.7-1.0, while different posts on the same topic score below 0.5).
* `candidate_keys(sketch)`: the `CANDIDATE_KEYS` smallest hashes as short strings, for looking up
  possible near-duplicates in an index (a column per key, or a key → ids map): two posts with Jaccard
  similarity J share at least one of them with probability of about 1 - (1 - J)^4, so likely duplicates
  are found without comparing against every recent post. Candidates are then checked with `similarity`.
* `RepostGrouper`: an in-memory, bounded grouping of recent posts built from the above (no I/O).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise

from services.listening.queries.language.normalise import fold, tokenize

__all__ = [
    "CANDIDATE_KEYS",
    "NEAR_DUPLICATE_THRESHOLD",
    "SKETCH_SIZE",
    "Grouped",
    "RepostGrouper",
    "Sketch",
    "candidate_keys",
    "fingerprint",
    "is_near_duplicate",
    "normalise",
    "similarity",
    "sketch",
]

SKETCH_SIZE = 32
CANDIDATE_KEYS = 4
NEAR_DUPLICATE_THRESHOLD = 0.6

Sketch = tuple[int, ...]

_HANDLE = r"@[\w.\-]+(?:@[\w.\-]+)?"
_REPOST_PREFIX_RE = re.compile(rf"^\s*(?:(?:RT|MT|QT|rt)\s*:?\s*{_HANDLE}\s*:?|RT\s*:)\s*")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_LEADING_MENTIONS_RE = re.compile(rf"^(?:\s*{_HANDLE}[:,]?)+(?=\s|$)")
_VIA_RE = re.compile(rf"\s*\b(?:via|by)\s+{_HANDLE}\s*$", re.IGNORECASE)


def _strip(text: str) -> str:
    previous = None
    while previous != text:  # `RT @a: RT @b: text`
        previous = text
        text = _REPOST_PREFIX_RE.sub("", text, count=1)
    text = _URL_RE.sub(" ", text)
    text = _LEADING_MENTIONS_RE.sub("", text, count=1)
    return _VIA_RE.sub("", text)


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] in "#@_"


def _words(text: str) -> list[str]:
    stripped = _strip(text).strip()
    tokens = tokenize(fold(stripped))
    if stripped.endswith("…") and tokens and _is_word(tokens[-1]):
        tokens.pop()  # the platform cut the last word short
    words = [t.lstrip("#") for t in tokens if _is_word(t)]
    return [w for w in words if w] or tokens


def normalise(text: str) -> str:
    """The repost-insensitive form of a post: its words, folded, separated by single spaces."""
    words = _words(text)
    if words:
        return " ".join(words)
    return " ".join(fold(text).split())


def fingerprint(text: str) -> str | None:
    """A stable hash of `normalise(text)`; equal for reposts of the same text, `None` for a blank post."""
    normal = normalise(text)
    if not normal:
        return None
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=16).hexdigest()


def _hash64(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest(), "big")


def sketch(text: str) -> Sketch:
    """The bottom-k MinHash sketch of the post's word bigrams (ascending 64-bit hashes)."""
    words = _words(text)
    shingles = {f"{a} {b}" for a, b in pairwise(words)} or set(words)
    return tuple(sorted({_hash64(s) for s in shingles})[:SKETCH_SIZE])


def similarity(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard similarity of two posts' bigram sets from their sketches (0.0-1.0)."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    union = sorted(set(a) | set(b))[:SKETCH_SIZE]
    both = set(a) & set(b)
    return sum(1 for h in union if h in both) / len(union)


def is_near_duplicate(a: Sketch, b: Sketch, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> bool:
    """Whether two sketches are similar enough to group their posts."""
    return similarity(a, b) >= threshold


def candidate_keys(s: Sketch) -> tuple[str, ...]:
    """Index keys for finding possible near-duplicates: the smallest hashes, as 16-digit hex strings."""
    return tuple(f"{h:016x}" for h in s[:CANDIDATE_KEYS])


@dataclass(frozen=True, slots=True)
class Grouped:
    """Where `RepostGrouper.add` put a post: its group (the first post's id) and how it was matched."""

    group_id: str
    how: str  # "new" | "exact" | "near"
    score: float


class RepostGrouper:
    """Groups posts by fingerprint, then by near-duplicate sketch; remembers the latest `capacity` posts."""

    def __init__(self, capacity: int = 100_000, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> None:
        self.capacity = capacity
        self.threshold = threshold
        self._posts: OrderedDict[str, tuple[str | None, Sketch, str]] = OrderedDict()
        self._by_fingerprint: dict[str, str] = {}
        self._by_key: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._posts)

    def add(self, post_id: str, text: str) -> Grouped:
        """Record a post and return its group: an earlier post's group if it repeats one, else its own."""
        fp, sk = fingerprint(text), sketch(text)
        grouped = self._find(fp, sk) or Grouped(post_id, "new", 1.0)
        self._remember(post_id, fp, sk, grouped.group_id)
        return grouped

    def _find(self, fp: str | None, sk: Sketch) -> Grouped | None:
        if fp is not None and fp in self._by_fingerprint:
            return Grouped(self._posts[self._by_fingerprint[fp]][2], "exact", 1.0)
        best: tuple[float, str] | None = None
        candidates = {pid for key in candidate_keys(sk) for pid in self._by_key.get(key, ())}
        for pid in sorted(candidates):
            score = similarity(sk, self._posts[pid][1])
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, pid)
        if best is None:
            return None
        return Grouped(self._posts[best[1]][2], "near", best[0])

    def _remember(self, post_id: str, fp: str | None, sk: Sketch, group_id: str) -> None:
        if post_id in self._posts:
            self._forget(post_id)
        self._posts[post_id] = (fp, sk, group_id)
        if fp is not None:
            self._by_fingerprint[fp] = post_id  # the latest holder: outlives evictions of the oldest
        for key in candidate_keys(sk):
            self._by_key.setdefault(key, set()).add(post_id)
        while len(self._posts) > self.capacity:
            self._forget(next(iter(self._posts)))

    def _forget(self, post_id: str) -> None:
        fp, sk, _ = self._posts.pop(post_id)
        if fp is not None and self._by_fingerprint.get(fp) == post_id:
            del self._by_fingerprint[fp]
        for key in candidate_keys(sk):
            ids = self._by_key.get(key)
            if ids is not None:
                ids.discard(post_id)
                if not ids:
                    del self._by_key[key]
