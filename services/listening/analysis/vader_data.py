"""The human-rated English texts in the vaderSentiment 3.3.2 source distribution (Hutto & Gilbert 2014).

Fetched with pip (`pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`) at training or
evaluation time only, never at run time, and cached under `var/analysis/` (or `$RAPPORT_ANALYSIS_CACHE`).
Each line of a ground-truth file is `id<TAB>mean rating (-4..+4)<TAB>text`.

Three classes from the mean rating: |mean| < 0.5 (it rounds to 0 on the raters' integer scale) is
neutral, above is positive, below is negative. The held-out test split is every tweet whose id is a
multiple of 5 (840 of 4,200): fixed, never used for training or tuning.
"""

from __future__ import annotations

import html
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VADER_VERSION = "3.3.2"
CORPORA = ("tweets", "amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets")
NEUTRAL_BAND = 0.5


@dataclass(frozen=True)
class Rated:
    """One human-rated text."""

    corpus: str
    id: int
    mean: float
    text: str

    @property
    def label(self) -> str:
        """negative | neutral | positive from the mean rating."""
        if self.mean >= NEUTRAL_BAND:
            return "positive"
        if self.mean <= -NEUTRAL_BAND:
            return "negative"
        return "neutral"

    @property
    def held_out(self) -> bool:
        """True for the fixed test split (tweets whose id is a multiple of 5)."""
        return self.corpus == "tweets" and self.id % 5 == 0


def cache_dir() -> Path:
    """Where downloaded data and cached embeddings live (not committed)."""
    return Path(os.environ.get("RAPPORT_ANALYSIS_CACHE", "var/analysis"))


class VaderUnavailable(RuntimeError):
    """The vaderSentiment source distribution could not be fetched with pip."""


def _sdist_path() -> Path:
    target = cache_dir() / f"vaderSentiment-{VADER_VERSION}.tar.gz"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"vaderSentiment=={VADER_VERSION}",
            "-d",
            tmp,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603 (fixed argv)
        found = list(Path(tmp).glob("vaderSentiment-*.tar.gz")) + list(
            Path(tmp).glob("vadersentiment-*.tar.gz")
        )
        if proc.returncode != 0 or not found:
            raise VaderUnavailable(
                "could not fetch the vaderSentiment source distribution with pip: "
                + (proc.stderr.strip().splitlines() or ["no output"])[-1]
            )
        found[0].replace(target)
    return target


def load() -> list[Rated]:
    """Every rated text of the four corpora (downloads the sdist with pip once, then cached)."""
    sdist = _sdist_path()
    rows: list[Rated] = []
    with tarfile.open(sdist, "r:gz") as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))
        blob = outer.extractfile(member)
        assert blob is not None
        with tarfile.open(fileobj=io.BytesIO(blob.read()), mode="r:gz") as inner:
            for corpus in CORPORA:
                m = next(x for x in inner.getmembers() if x.name.endswith(f"/{corpus}_GroundTruth.txt"))
                f = inner.extractfile(m)
                assert f is not None
                for line in f.read().decode("utf-8", errors="replace").splitlines():
                    parts = line.split("\t", 2)
                    if len(parts) != 3:
                        continue
                    rows.append(
                        Rated(corpus, int(parts[0]), float(parts[1]), html.unescape(parts[2].strip()))
                    )
    return rows


def cached_embeddings(rows: list[Rated], embed: Callable[[list[str]], np.ndarray], tag: str) -> np.ndarray:
    """Embeddings of `rows` (same order), computed once with `embed` and cached per (corpus, id) under tag."""
    path = cache_dir() / f"vader-emb-{tag}.npz"
    known: dict[tuple[str, int], np.ndarray] = {}
    if path.exists():
        with np.load(path) as z:
            for c, i, e in zip(z["corpus"], z["ids"], z["emb"], strict=True):
                known[(str(c), int(i))] = e
    todo = [r for r in rows if (r.corpus, r.id) not in known]
    step = 256
    for start in range(0, len(todo), step):
        chunk = todo[start : start + step]
        emb = embed([r.text for r in chunk])
        for r, e in zip(chunk, emb, strict=True):
            known[(r.corpus, r.id)] = e.astype(np.float16)
        keys = list(known)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            corpus=np.array([k[0] for k in keys]),
            ids=np.array([k[1] for k in keys]),
            emb=np.stack([known[k] for k in keys]),
        )
        print(f"  embedded {min(start + step, len(todo))}/{len(todo)} ({tag})", file=sys.stderr, flush=True)
    return np.stack([known[(r.corpus, r.id)] for r in rows]).astype(np.float32)
