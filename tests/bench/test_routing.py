"""bench/routing.py: its help, its rules and posts, and the decisions part at a tiny size (in process)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from bench.routing import (
    Watch,
    api_rules,
    decisions,
    parse_args,
    percentile,
    resolved_mentions,
    rule_specs,
)
from services.engagement.sla_schemas import RoutingRuleCreate

ROOT = Path(__file__).resolve().parents[2]


def test_help_names_both_parts() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "routing.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--part" in done.stdout
    assert "decisions" in done.stdout
    assert "latency" in done.stdout
    assert "--batch" in done.stdout


def test_rules_are_valid_for_the_api_with_the_often_matching_ones_last() -> None:
    teams = {"VIP": "t-vip", "Sales": "t-sales", "DACH": "t-dach"}
    specs = rule_specs(50, teams)
    assert len(specs) == 50
    for spec in specs:
        RoutingRuleCreate.model_validate(spec)
    assert specs[-5]["actions"] == {"open": False}  # competitor talk: the first of the common ones
    assert any(spec["actions"].get("team_id") == "t-dach" for spec in specs)
    for spec in api_rules(50):
        assert "team_id" not in RoutingRuleCreate.model_validate(spec).actions.model_fields_set


def test_posts_are_varied_and_each_by_its_own_profile() -> None:
    feed = resolved_mentions(300, seed=1)
    assert len({r.profile_id for r in feed}) == 300
    assert len({r.mention.mention_id for r in feed}) == 300
    assert len({r.mention.analysis.language for r in feed}) >= 6
    assert len({r.mention.analysis.intent for r in feed}) == 5
    assert any(getattr(r.mention, "channel_id", None) for r in feed)
    assert any(getattr(r.mention, "channel_id", None) is None for r in feed)
    actionable = resolved_mentions(100, seed=2, actionable_only=True)
    assert {r.mention.analysis.intent for r in actionable} <= {"complaint", "question"}


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) == 0.0


def test_decisions_part_at_a_tiny_size_stays_within_capacity(tmp_path: Path) -> None:
    args: argparse.Namespace = parse_args(
        ["--part", "decisions", "-n", "200", "--rules", "5", "--agents", "10", "--capacity", "8"]
    )
    figures = asyncio.run(decisions(args, tmp_path))
    assert figures["posts"] == 200
    assert figures["opened"] + figures["ignored"] == 200
    assert figures["opened"] > 0 and figures["ignored"] > 0
    assert figures["assigned"] + figures["queued"] == figures["opened"]
    # 10 agents x 8 = 80 places: more conversations open than that, so some wait in the queue.
    assert figures["assigned"] <= 80 and figures["queued"] > 0
    # The second tenant: everything queued until the agents come online, then they fill up.
    assert figures["queue_before"] == 200
    assert figures["queue_assigned"] + figures["queue_left"] == 200
    assert 0 < figures["queue_assigned"] <= 80
    assert figures["over_capacity"] == 0
    assert figures["max_load"] <= 8
    assert figures["decisions_per_s"] > 0 and figures["assignments_per_s"] > 0


def test_watch_splits_the_wait_by_stage() -> None:
    watch = Watch(tenant_id="t1")
    events = [
        ("listening.mention.received", {"mention_id": "m1"}, 10.5),
        ("profiles.mention.resolved", {"mention": {"mention_id": "m1"}}, 11.0),
        ("engagement.conversation.opened", {"mention_id": "m1", "conversation_id": "c1"}, 11.2),
        ("engagement.conversation.assigned", {"conversation_id": "c1"}, 11.25),
        ("engagement.conversation.assigned", {"conversation_id": "c1"}, 19.0),  # a later reassignment
        # Another tenant's events are not this bench's.
        ("engagement.conversation.opened", {"mention_id": "m2", "conversation_id": "c2"}, 10.1),
    ]
    for kind, data, at in events:
        watch.on_event({"type": kind, "data": data, "tenantid": "t2" if "m2" in str(data) else "t1"}, at)
    # m3 opened a conversation with its agent already chosen (assignee in `opened`).
    watch.on_event(
        {
            "type": "engagement.conversation.opened",
            "tenantid": "t1",
            "data": {"mention_id": "m3", "conversation_id": "c3", "assignee_id": "a1"},
        },
        12.0,
    )
    # m5 was not actionable at first; listening's quality re-score made it so (then it opened).
    for kind, data, at in [
        ("listening.mention.received", {"mention_id": "m5"}, 10.5),
        ("profiles.mention.resolved", {"mention": {"mention_id": "m5"}}, 11.0),
        ("listening.mention.reanalysed", {"mention_id": "m5"}, 40.0),
        ("engagement.conversation.opened", {"mention_id": "m5", "conversation_id": "c5"}, 40.1),
        ("engagement.conversation.assigned", {"conversation_id": "c5"}, 40.2),
    ]:
        watch.on_event({"type": kind, "data": data, "tenantid": "t1"}, at)
    stages = watch.stages({"m1": 10.0, "m2": 10.0, "m3": 11.0, "m4": 11.0, "m5": 10.2})
    assert sorted(round(x, 6) for x in stages["ingest → assignment"]) == [1.0, 1.25, 30.0]
    assert sorted(stages["opened at resolution: ingest → assignment"]) == [1.0, 1.25]
    assert stages["ingest → listening.mention.received"] == [0.5]
    assert stages["→ profiles.mention.resolved"] == [0.5]
    assert stages["→ engagement assignment"] == [0.25]
