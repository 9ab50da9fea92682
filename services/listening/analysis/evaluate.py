"""Print how well each analysis tier does.

    python -m services.listening.analysis.evaluate [--tier fast|quality|both] [--no-vader] [--errors]
    python -m services.listening.analysis.evaluate --set hard --split dev|dev2|test [--tier ...] [--errors]

(a) Per-language accuracy of language, sentiment and intent on the project's own labelled set
    (tests/data/analysis/<lang>.jsonl, written by the project, not real user data; `hbs` counted as one).
(b) English 3-class sentiment accuracy on the human-rated tweets of the vaderSentiment 3.3.2 source
    distribution that were held out from training (id % 5 == 0; fetched with pip and cached under
    var/analysis/; said clearly when it cannot be fetched).
Targets for the quality tier: language >= 0.97, sentiment >= 0.80, intent >= 0.80, held-out tweets >= 0.75.

`--corrected-by hard-dev` measures a tenant whose agents corrected every post of the hard set's dev split
(`/labels`: each post with its right sentiment and intent, so confirmations too): the quality tier then
applies that tenant's corrections (`tenant.TenantHead`) to the posts measured. On the dev split itself
each post is measured with the corrections of the other four fifths (5 folds), never its own.

`--set hard` measures the harder set of messy posts instead (tests/data/analysis/hard/<split>.jsonl, also
written by the project): per language group and per kind of difficulty (irony, negated negatives, refund
demands, Arabizi, ...). Its `dev` and `dev2` splits are for tuning, its `test` split only for
reporting. It has no targets yet and leaves out the vader tweets (they do not depend on the set).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .analyser import Analyser
from .normalise import normalise
from .tenant import Correction, TenantHead
from .types import Tier

DATA_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "analysis"
LANGS = ("en", "ar", "hbs", "sv", "tr", "de", "fr", "es")
TARGETS = {"language": 0.97, "sentiment": 0.80, "intent": 0.80, "vader": 0.75}
HARD_GROUPS = ("en", "ar", "hbs", "sv", "tr")
HARD_KINDS = (
    "irony",
    "negated_negative",
    "demand",
    "mixed",
    "no_diacritics",
    "slang",
    "arabizi",
    "not_for_care",
    "prospect",
    "resolved",
    "code_switching",
    "emoji_only",
    "plain",
)
Split = Literal["dev", "dev2", "test"]
# Posts, right languages, right sentiments, right intents per key.
_Counts = tuple[defaultdict[str, int], defaultdict[str, int], defaultdict[str, int], defaultdict[str, int]]


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


def load_hard(split: Split, data_dir: Path = DATA_DIR / "hard") -> list[dict[str, Any]]:
    """One split of the harder set; every row has `group` (language group) and `kind`."""
    path = data_dir / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score_rows(
    analyser: Analyser,
    tier: Tier,
    rows: list[dict[str, Any]],
    by: tuple[str, ...],
    errors: bool = False,
    heads: list[TenantHead | None] | None = None,
) -> dict[str, Scores]:
    """Run one tier over labelled rows once; tally the answers grouped by each field named in `by`.

    The language answer is checked against the row's `lang` whatever the grouping. `heads`: a tenant's
    corrections per row (see `corrected_heads`)."""
    started = time.perf_counter()
    results = analyser.analyse_batch([r["text"] for r in rows], tier=tier, heads=heads)
    seconds = time.perf_counter() - started
    tallies: dict[str, _Counts] = {
        field: (defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)) for field in by
    }
    for row, res in zip(rows, results, strict=True):
        ok = (
            res.language.language == row["lang"],
            res.sentiment.label == row["sentiment"],
            res.intent.label == row["intent"],
        )
        for field, (n, lang_ok, sent_ok, intent_ok) in tallies.items():
            key = row[field]
            n[key] += 1
            lang_ok[key] += ok[0]
            sent_ok[key] += ok[1]
            intent_ok[key] += ok[2]
        if errors and not all(ok):
            kind = f" {row['kind']}" if "kind" in row else ""
            print(
                f"  {row['id']:8}{kind} lang {res.language.language}/{row['lang']} "
                f"sent {res.sentiment.label}/{row['sentiment']} intent {res.intent.label}/{row['intent']} "
                f"[{res.tier}] {row['text'][:70]}"
            )
    return {
        field: Scores(dict(n), dict(lang_ok), dict(sent_ok), dict(intent_ok), seconds)
        for field, (n, lang_ok, sent_ok, intent_ok) in tallies.items()
    }


def score_set(
    analyser: Analyser,
    tier: Tier,
    rows: list[dict[str, Any]],
    errors: bool = False,
    heads: list[TenantHead | None] | None = None,
) -> Scores:
    """Run one tier over the labelled set."""
    return score_rows(analyser, tier, rows, ("lang",), errors=errors, heads=heads)["lang"]


FOLDS = 5


def corrected_heads(analyser: Analyser, rows: list[dict[str, Any]]) -> list[TenantHead | None] | None:
    """One head per row: a tenant that corrected every post of the hard dev split; for a row of that
    split, the head leaves out the row's fold (so no post is measured with its own correction)."""
    source = load_hard("dev")
    texts = [r["text"] for r in source]
    emb = analyser.embed(texts)
    machine = analyser.answers_from(texts, emb) if emb is not None else None
    if emb is None or machine is None:
        return None
    corrections = [
        Correction(v, r["sentiment"], r["intent"], m.sentiment.label, m.intent.label)
        for v, r, m in zip(emb, source, machine, strict=True)
    ]
    whole = TenantHead(corrections)
    position = {r["id"]: k for k, r in enumerate(source)}
    folds = [TenantHead([c for k, c in enumerate(corrections) if k % FOLDS != f]) for f in range(FOLDS)]
    return [folds[position[r["id"]] % FOLDS] if r.get("id") in position else whole for r in rows]


def _table(scores: Scores, title: str, keys: tuple[str, ...]) -> None:
    width = max(5, *(len(k) for k in keys))
    print(f"  {title:{width}} {'n':>3} {'language':>9} {'sentiment':>10} {'intent':>7}")
    for key in keys:
        if key in scores.n:
            print(
                f"  {key:{width}} {scores.n[key]:3d} {scores.rate('language', key):9.3f} "
                f"{scores.rate('sentiment', key):10.3f} {scores.rate('intent', key):7.3f}"
            )
    overall = {w: scores.rate(w) for w in ("language", "sentiment", "intent")}
    print(
        f"  {'all':{width}} {sum(scores.n.values()):3d} {overall['language']:9.3f} "
        f"{overall['sentiment']:10.3f} {overall['intent']:7.3f}"
    )


def _hard(analyser: Analyser, tiers: list[Tier], split: Split, errors: bool, corrected: bool) -> None:
    rows = load_hard(split)
    print(f"Hard set, {split} split: {len(rows)} posts written by the project ({DATA_DIR / 'hard'})")
    heads = corrected_heads(analyser, rows) if corrected else None
    if corrected:
        print("  quality tier with the corrections of a tenant that labelled the hard dev split")
    for tier in tiers:
        if tier == "quality" and analyser.quality is None:
            print(f"\n[quality] NOT MEASURED: {analyser.quality_error}")
            continue
        scored = score_rows(analyser, tier, rows, ("group", "kind"), errors=errors, heads=heads)
        print(f"\n[{tier}] {len(rows)} posts in {scored['group'].seconds:.1f} s")
        _table(scored["group"], "group", HARD_GROUPS)
        print()
        _table(scored["kind"], "kind", HARD_KINDS)


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
    parser.add_argument("--set", choices=("clean", "hard"), default="clean", dest="which", help="which set")
    parser.add_argument(
        "--split", choices=("dev", "dev2", "test"), default="test", help="split of the hard set"
    )
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder with <lang>.jsonl files")
    parser.add_argument("--no-vader", action="store_true", help="skip the held-out vader tweets")
    parser.add_argument("--errors", action="store_true", help="list every post with a wrong answer")
    parser.add_argument("--check", action="store_true", help="exit 1 when a quality-tier target is missed")
    parser.add_argument(
        "--corrected-by",
        choices=("hard-dev",),
        default=None,
        help="apply the corrections of a tenant that labelled every post of the hard dev split",
    )
    args = parser.parse_args(argv)

    analyser = Analyser()
    tiers: list[Tier] = ["fast", "quality"] if args.tier == "both" else [args.tier]
    if args.which == "hard":
        _hard(analyser, tiers, args.split, args.errors, args.corrected_by is not None)
        return 0
    rows = load_set(args.data)
    missed = False
    print(f"Labelled set: {len(rows)} posts written by the project ({args.data})")
    heads = corrected_heads(analyser, rows) if args.corrected_by else None
    if args.corrected_by:
        print("  quality tier with the corrections of a tenant that labelled the hard dev split")
    for tier in tiers:
        if tier == "quality" and analyser.quality is None:
            print(f"\n[quality] NOT MEASURED: {analyser.quality_error}")
            missed = True
            continue
        scores = score_set(analyser, tier, rows, errors=args.errors, heads=heads)
        print(f"\n[{tier}] {len(rows)} posts in {scores.seconds:.1f} s")
        _table(scores, "lang", LANGS)
        overall = {w: scores.rate(w) for w in ("language", "sentiment", "intent")}
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
