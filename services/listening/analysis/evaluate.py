"""Print how well each analysis tier does.

    python -m services.listening.analysis.evaluate [--tier fast|quality|both] [--no-vader] [--errors]

(a) Per-language accuracy of language, sentiment and intent on the project's own labelled set
    (tests/data/analysis/<lang>.jsonl, written by the project, not real user data; `hbs` counted as one).
(b) English 3-class sentiment accuracy on the human-rated tweets of the vaderSentiment 3.3.2 source
    distribution that were held out from training (id % 5 == 0; fetched with pip and cached under
    var/analysis/; said clearly when it cannot be fetched).
Targets for the quality tier: language >= 0.97, sentiment >= 0.80, intent >= 0.80, held-out tweets >= 0.75.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analyser import Analyser
from .normalise import normalise
from .types import Tier

DATA_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "analysis"
LANGS = ("en", "ar", "hbs", "sv", "tr", "de", "fr", "es")
TARGETS = {"language": 0.97, "sentiment": 0.80, "intent": 0.80, "vader": 0.75}


@dataclass
class Scores:
    """Right answers and totals per language for one tier."""

    n: dict[str, int]
    language: dict[str, int]
    sentiment: dict[str, int]
    intent: dict[str, int]
    seconds: float

    def rate(self, what: str, lang: str | None = None) -> float:
        """Accuracy for one language, or over all of them."""
        right: dict[str, int] = getattr(self, what)
        if lang is None:
            return sum(right.values()) / max(1, sum(self.n.values()))
        return right.get(lang, 0) / max(1, self.n.get(lang, 0))


def load_set(data_dir: Path = DATA_DIR, langs: tuple[str, ...] = LANGS) -> list[dict[str, Any]]:
    """The labelled evaluation posts (not the dev set)."""
    rows: list[dict[str, Any]] = []
    for lang in langs:
        path = data_dir / f"{lang}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def score_set(analyser: Analyser, tier: Tier, rows: list[dict[str, Any]], errors: bool = False) -> Scores:
    """Run one tier over the labelled set."""
    started = time.perf_counter()
    results = analyser.analyse_batch([r["text"] for r in rows], tier=tier)
    seconds = time.perf_counter() - started
    n: dict[str, int] = defaultdict(int)
    lang_ok: dict[str, int] = defaultdict(int)
    sent_ok: dict[str, int] = defaultdict(int)
    intent_ok: dict[str, int] = defaultdict(int)
    for row, res in zip(rows, results, strict=True):
        key = row["lang"]
        n[key] += 1
        ok = (
            res.language.language == key,
            res.sentiment.label == row["sentiment"],
            res.intent.label == row["intent"],
        )
        lang_ok[key] += ok[0]
        sent_ok[key] += ok[1]
        intent_ok[key] += ok[2]
        if errors and not all(ok):
            print(
                f"  {row['id']:8} lang {res.language.language}/{key} "
                f"sent {res.sentiment.label}/{row['sentiment']} intent {res.intent.label}/{row['intent']} "
                f"[{res.tier}] {row['text'][:70]}"
            )
    return Scores(dict(n), dict(lang_ok), dict(sent_ok), dict(intent_ok), seconds)


def vader_heldout(analyser: Analyser, tier: Tier) -> tuple[float, int] | str:
    """3-class accuracy on the held-out vader tweets, or the reason it could not be measured."""
    from . import vader_data

    try:
        rows = [r for r in vader_data.load() if r.held_out]
    except (vader_data.VaderUnavailable, OSError) as exc:
        return f"NOT MEASURED: vaderSentiment 3.3.2 source distribution unavailable ({exc})"
    if tier == "fast":
        results = analyser.analyse_batch([r.text for r in rows], tier="fast")
        right = sum(res.sentiment.label == r.label for res, r in zip(results, rows, strict=True))
        return right / len(rows), len(rows)
    quality = analyser.quality
    if quality is None:
        return f"NOT MEASURED: quality tier unavailable ({analyser.quality_error})"
    # Same input as the pipeline (normalised body), embeddings cached between runs.
    emb = vader_data.cached_embeddings(
        rows, lambda texts: quality.embed([normalise(t).body for t in texts]), "e5q-body"
    )
    labels = [s.label for s in quality.sentiment_from(emb)]
    right = sum(lab == r.label for lab, r in zip(labels, rows, strict=True))
    return right / len(rows), len(rows)


def _verdict(value: float, target: float) -> str:
    if value >= target:
        return f"meets target {target:.2f}"
    return f"MISSES target {target:.2f} by {(target - value) * 100:.1f} points"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.listening.analysis.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tier", choices=("fast", "quality", "both"), default="both")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder with <lang>.jsonl files")
    parser.add_argument("--no-vader", action="store_true", help="skip the held-out vader tweets")
    parser.add_argument("--errors", action="store_true", help="list every post with a wrong answer")
    parser.add_argument("--check", action="store_true", help="exit 1 when a quality-tier target is missed")
    args = parser.parse_args(argv)

    analyser = Analyser()
    tiers: list[Tier] = ["fast", "quality"] if args.tier == "both" else [args.tier]
    rows = load_set(args.data)
    missed = False
    print(f"Labelled set: {len(rows)} posts written by the project ({args.data})")
    for tier in tiers:
        if tier == "quality" and analyser.quality is None:
            print(f"\n[quality] NOT MEASURED: {analyser.quality_error}")
            missed = True
            continue
        scores = score_set(analyser, tier, rows, errors=args.errors)
        print(f"\n[{tier}] {len(rows)} posts in {scores.seconds:.1f} s")
        print(f"  {'lang':5} {'n':>3} {'language':>9} {'sentiment':>10} {'intent':>7}")
        for lang in LANGS:
            if lang in scores.n:
                print(
                    f"  {lang:5} {scores.n[lang]:3d} {scores.rate('language', lang):9.3f} "
                    f"{scores.rate('sentiment', lang):10.3f} {scores.rate('intent', lang):7.3f}"
                )
        overall = {w: scores.rate(w) for w in ("language", "sentiment", "intent")}
        print(
            f"  {'all':5} {sum(scores.n.values()):3d} {overall['language']:9.3f} "
            f"{overall['sentiment']:10.3f} {overall['intent']:7.3f}"
        )
        if tier == "quality":
            for what, value in overall.items():
                print(f"  {what}: {value:.3f} — {_verdict(value, TARGETS[what])}")
                missed |= value < TARGETS[what]
        if not args.no_vader:
            result = vader_heldout(analyser, tier)
            if isinstance(result, str):
                print(f"  vader held-out tweets: {result}")
                missed |= tier == "quality"
            else:
                acc, count = result
                line = f"  vader held-out tweets (English, 3-class, n={count}): {acc:.3f}"
                if tier == "quality":
                    line += f" — {_verdict(acc, TARGETS['vader'])}"
                    missed |= acc < TARGETS["vader"]
                print(line)
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
