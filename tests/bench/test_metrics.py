"""bench/metrics.py: its help, and both parts at a tiny size on SQLite (in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.metrics", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )


def test_help_names_the_sizes_and_the_database() -> None:
    done = bench("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--mentions", "--fold", "--runs", "--database-url", "--reuse"):
        assert option in done.stdout


def test_a_tiny_run_folds_every_kind_seeds_and_times_every_case() -> None:
    done = bench("--mentions", "3000", "--fold", "70", "--runs", "3", "--budget", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in ("listening.mention.received", "engagement.survey.answered", "profiles.profile.created"):
        assert kind in out
    assert "mention_fact: 3,000 rows" in out
    assert "mention_count computed from the rows" in out
    assert "day summaries computed from the rows" in out
    assert "care and customer figures, year" in out
    assert out.count(" p99 ") == 10
