"""bench/consumer_floor.py: its help, its events and the events it stages (the bench itself is not run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.consumer_floor import Authors, mentions
from shared.events.contracts import MentionReceived
from shared.events.envelope import event_model

ROOT = Path(__file__).resolve().parents[2]


def test_help_names_both_modes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "consumer_floor.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "paced" in done.stdout
    assert "burst" in done.stdout
    assert "--drain-s" in done.stdout


def test_mentions_parse_as_profiles_receives_them() -> None:
    events = mentions(30, tenant_id="t1")
    parsed = [event_model(MentionReceived).model_validate_json(e.to_bytes()) for e in events]
    assert len({e.data.mention_id for e in parsed}) == 30
    assert any(e.data.matched_queries for e in parsed)
    assert all(e.type == "listening.mention.received" for e in parsed)


def test_stages_what_resolution_stages_per_batch() -> None:
    events = [
        e.data
        for e in (
            event_model(MentionReceived).model_validate_json(x.to_bytes())
            for x in mentions(3, tenant_id="t1")
        )
    ]
    first, second, third = events
    twice = second.model_copy(update={"author": first.author, "platform": first.platform})
    authors = Authors()
    # A new author twice in one batch: created once, no `updated` (resolution announces new profiles by
    # `created`), one `resolved` per mention.
    staged = [e.type for e in authors.stage_events("t1", [first, twice])]
    assert staged.count("profiles.profile.created") == 1
    assert staged.count("profiles.mention.resolved") == 2
    assert "profiles.profile.updated" not in staged
    # Known in the next batch: one `updated` for the profile, however many of its mentions.
    again = third.model_copy(update={"author": first.author, "platform": first.platform})
    staged = [
        e.type for e in authors.stage_events("t1", [again, again.model_copy(update={"mention_id": "x"})])
    ]
    assert staged.count("profiles.profile.updated") == 1
    assert "profiles.profile.created" not in staged
    assert staged.count("profiles.mention.resolved") == 2
