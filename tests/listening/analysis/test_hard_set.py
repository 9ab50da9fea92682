"""The harder check set (tests/data/analysis/hard, written by the project) is well formed and the
evaluator reports it per language group and per kind."""

from __future__ import annotations

from services.listening.analysis import Analyser
from services.listening.analysis.evaluate import HARD_GROUPS, HARD_KINDS, load_hard, score_rows
from services.listening.analysis.language import SUPPORTED
from services.listening.analysis.types import INTENT_LABELS, SENTIMENT_LABELS


def test_every_split_is_labelled_with_the_analysers_own_labels() -> None:
    dev, dev2, test = load_hard("dev"), load_hard("dev2"), load_hard("test")
    for split, rows, floor in (("dev", dev, 20), ("dev2", dev2, 12), ("test", test, 30)):
        for group in HARD_GROUPS:
            assert sum(r["group"] == group for r in rows) >= floor, (split, group)
        for r in rows:
            assert r["group"] in HARD_GROUPS and r["kind"] in HARD_KINDS, r["id"]
            assert r["lang"] in (*SUPPORTED, "und"), r["id"]
            assert r["sentiment"] in SENTIMENT_LABELS and r["intent"] in INTENT_LABELS, r["id"]
    ids = [r["id"] for r in dev + dev2 + test]
    assert len(ids) == len(set(ids))
    texts = [r["text"] for r in dev + dev2 + test]
    assert len(texts) == len(set(texts))
    assert {r["kind"] for r in test} == set(HARD_KINDS)


def test_scores_are_grouped_by_language_group_and_by_kind() -> None:
    rows = load_hard("dev")
    scored = score_rows(Analyser(default_tier="fast"), "fast", rows, ("group", "kind"))
    assert sum(scored["group"].n.values()) == sum(scored["kind"].n.values()) == len(rows)
    assert set(scored["kind"].n) <= set(HARD_KINDS)
    assert scored["group"].n["ar"] == sum(r["group"] == "ar" for r in rows)
