"""Routing: decisions per second with many rules and agents, and the time from ingest to assignment.

    .venv/bin/python bench/routing.py                                   # both parts, default sizes
    .venv/bin/python bench/routing.py --part decisions                  # in-process only, ~1-2 min
    .venv/bin/python bench/routing.py --part decisions -n 200 --rules 5 --agents 10
    .venv/bin/python bench/routing.py --part latency --seconds 30 --rate 100   # starts its own stack

decisions (in process, no HTTP, no broker): a fresh SQLite file in WAL mode (engagement's migrations,
`shared.db.create_engine`), seeded with rows: one tenant with `--rules` routing rules (keyword,
language, intent, sentiment, platform, channel and query-kind conditions; most match few posts, so a
post walks most of the list; the few that hit ignore competitor talk, open purchase intent, send
languages to their team or raise the priority), ten teams with languages, `--agents` active agents
online in them (capacity `--capacity`) and an SLA policy per priority. `-n` `profiles.mention.resolved`
payloads (the labelled posts of eight languages with their languages, intents and sentiments; half
through a channel, some matching brand or competitor queries, each by its own profile) go through the
function engagement's consumer calls (`corrections.resolve_mentions`, the settings' reopen window), `--batch`
per call and transaction (begun as the consumer's inbox begins it). Figures: decisions per second (rules, then
conversation, team, agent or queue, SLA clock and outbox rows, committed), CPU ms per decision, and the
rules' evaluation alone (`rules.decide`, cache warm). Then the queue drain: a second tenant whose agents
are all offline while `-n` actionable posts open conversations (all queued); then every agent comes
online through `presence.set_presence` (the function behind `PUT /v1/agents/me/presence`, which drains
the queue into the agent), one transaction each: assignments per second. At the end no agent holds more
conversations in progress than their capacity (checked, the bench fails otherwise). The heartbeat key
`set_presence` writes after its commit goes to a dictionary standing in for Redis (not measured).

latency (the whole stack, `rapport.stack.Stack`, SQLite): a tenant signed up through the gateway,
`--rules` routing rules through `POST /v1/routing/rules`, `--live-agents` agents (invited with role
agent, logged in, online through `PUT /v1/agents/me/presence`, capacity raised by the owner through
`PATCH /v1/agents/{id}`), then complaints and questions from distinct authors posted through
`POST /v1/mentions` at `--rate` posts per second for `--seconds`. A NATS subscriber on
`engagement.conversation.opened` and `engagement.conversation.assigned` notes when each post's
conversation got its agent; ingest → assignment is from the post's 202 to that event's arrival
(p50/p95/p99/max), for the posts that opened a conversation. It also listens to
`listening.mention.received`, `listening.mention.reanalysed` and `profiles.mention.resolved`, which
split the wait by stage (analysis, resolution, routing) for the posts whose conversation opened when
they were resolved; a post that only became actionable by listening's quality re-score opens later
and counts in the first row only. Arrival times are the subscriber's: each includes that service's
outbox relay.

Progress goes to stderr; the figures are printed as markdown tables (`--json` writes them too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "correct horse battery staple"  # noqa: S105 (a throw-away tenant of a bench)
TEAMS = (
    ("English", ["en"]),
    ("Arabic", ["ar"]),
    ("Balkans", ["hbs", "sr", "hr", "bs"]),
    ("Nordics", ["sv", "da", "no"]),
    ("Turkish", ["tr"]),
    ("DACH", ["de"]),
    ("French", ["fr"]),
    ("Spanish", ["es", "pt"]),
    ("Sales", ["en", "de", "fr", "es"]),
    ("VIP", ["en"]),
)
PRIORITY_SLA = {"urgent": (900.0, 14400.0), "high": (3600.0, 28800.0), "normal": (14400.0, 86400.0)}
PRIORITY_SLA["low"] = (86400.0, 604800.0)
# Words and phrases of rules that few posts carry (a post walks past them).
RARE_WORDS = [
    "warranty claim",
    "recall notice",
    "invoice number",
    "gdpr",
    "chargeback",
    "lawsuit",
    "data breach",
    "press inquiry",
    "partnership",
    "wholesale",
    "firmware",
    "api key",
    "accessibility",
    "fraud",
    "unsubscribe",
    "influencer",
    "sponsorship",
    "bulk order",
    "safety hazard",
    "counterfeit",
]
BRAND_QUERY = "q-brand"
COMPETITOR_QUERY = "q-competitor"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


# --- what the decisions part feeds and seeds ---------------------------------------------------------


def labelled() -> list[dict[str, Any]]:
    """The labelled posts (text, lang, intent, sentiment) of eight languages."""
    from services.listening.analysis.evaluate import load_set

    return load_set()


def rule_specs(n: int, team_ids: dict[str, str]) -> list[dict[str, Any]]:
    """`n` mention rules (conditions and actions as the API takes them): the many that rarely match
    first, the few that often do last, so a post walks most of the list."""
    rare: list[dict[str, Any]] = []
    i = 0
    platforms = ["tiktok", "youtube", "reddit", "linkedin", "threads"]
    while len(rare) < max(0, n - 5):
        kind = i % 5
        words = [RARE_WORDS[i % len(RARE_WORDS)], RARE_WORDS[(i * 7 + 3) % len(RARE_WORDS)]]
        if kind == 0:
            spec = {
                "conditions": {"keywords": words},
                "actions": {"priority": "high", "labels": ["escalate"]},
            }
        elif kind == 1:
            spec = {
                "conditions": {"keywords": words, "intents": ["complaint", "question"]},
                "actions": {"team_id": team_ids["VIP"], "labels": ["legal"]},
            }
        elif kind == 2:
            spec = {
                "conditions": {"platforms": [platforms[i % len(platforms)]], "intents": ["complaint"]},
                "actions": {"priority": "high"},
            }
        elif kind == 3:
            spec = {
                "conditions": {"languages": ["ja", "ko", "zh"][i % 3 : i % 3 + 1], "via_channel": True},
                "actions": {"open": True, "labels": ["asia"]},
            }
        else:
            spec = {
                "conditions": {"keywords": words, "sentiments": ["positive"], "query_kinds": ["brand"]},
                "actions": {"open": True, "labels": ["ugc"]},
            }
        rare.append({"name": f"rare {i}", **spec})
        i += 1
    common: list[dict[str, Any]] = [
        {
            "name": "competitor talk is not ours",
            "conditions": {"only_query_kinds": ["competitor"]},
            "actions": {"open": False},
        },
        {
            "name": "purchase intent to sales",
            "conditions": {"intents": ["purchase_intent"], "query_kinds": ["brand"]},
            "actions": {"open": True, "team_id": team_ids["Sales"], "labels": ["sales"]},
        },
        {
            "name": "angry influencers first",
            "conditions": {"sentiments": ["negative"], "min_influence": 60},
            "actions": {"priority": "urgent"},
        },
        {
            "name": "German to DACH",
            "conditions": {"languages": ["de"], "intents": ["complaint", "question"]},
            "actions": {"team_id": team_ids["DACH"]},
        },
        {
            "name": "praise is not a ticket",
            "conditions": {"intents": ["praise"], "via_channel": False},
            "actions": {"open": False},
        },
    ]
    return (rare + common)[-n:] if n < len(common) else rare + common


def resolved_mentions(
    n: int, *, seed: int, actionable_only: bool = False, channels: Sequence[str] = ("ch-1", "ch-2")
) -> list[Any]:
    """`n` `profiles.mention.resolved` payloads, each by its own profile, from the labelled posts."""
    from shared.events.contracts import MentionReceived, MentionResolved, ProfileSnapshot

    rng = random.Random(seed)
    rows = labelled()
    if actionable_only:
        rows = [r for r in rows if r["intent"] in ("complaint", "question")]
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        row = rows[i % len(rows)] if i >= len(rows) or not i else rows[rng.randrange(len(rows))]
        text = row["text"]
        if rng.random() < 0.03:  # a few carry the words a rare rule looks for
            text = f"{text} {rng.choice(RARE_WORDS)}"
        roll = rng.random()
        matched = (
            [{"query_id": BRAND_QUERY, "kind": "brand"}]
            if roll < 0.5
            else ([{"query_id": COMPETITOR_QUERY, "kind": "competitor"}] if roll < 0.6 else [])
        )
        via_channel = actionable_only or rng.random() < 0.5
        influence = rng.choice([0.0, 5.0, 20.0, 40.0, 65.0, 80.0])
        mention = MentionReceived.model_validate(
            {
                "mention_id": f"m-{run}-{i}",
                "platform": rng.choice(["x", "x", "instagram", "facebook"]),
                "external_id": f"{run}-{i}",
                "text": text,
                "created_at": now - timedelta(seconds=n - i),
                "author": {"handle": f"@a{run}{i}", "display_name": f"A {i}", "influence": influence},
                "analysis": {
                    "language": row["lang"],
                    "sentiment": {
                        "label": row["sentiment"],
                        "score": {"positive": 0.6, "neutral": 0.0, "negative": -0.6}[row["sentiment"]],
                    },
                    "intent": row["intent"],
                },
                "matched_queries": matched,
                "matched_query_ids": [q["query_id"] for q in matched],
                "channel_id": rng.choice(list(channels)) if via_channel else None,
                "kind": "post",
            }
        )
        profile = ProfileSnapshot(profile_id=f"p-{run}-{i}", influence=influence, mention_count=1)
        out.append(MentionResolved(profile_id=profile.profile_id, mention=mention, profile=profile))
    return out


async def seed_tenant(
    sessions: Any, *, tenant_id: str, rules: int, agents: int, capacity: int, online: bool
) -> list[str]:
    """Teams, agents (in teams), SLA policies and rules as rows; the agents' ids."""
    from services.engagement.models import Agent, RoutingRule, RoutingVersion, SlaPolicy, Team, TeamMember
    from services.engagement.sla_schemas import RoutingRuleCreate
    from shared.db import utcnow

    now = utcnow()
    async with sessions() as session, session.begin():
        team_ids: dict[str, str] = {}
        for name, languages in TEAMS:
            team = Team(tenant_id=tenant_id, name=name, languages=json.dumps(languages))
            session.add(team)
            team_ids[name] = team.id
        ids = []
        names = list(team_ids)
        for i in range(agents):
            agent = Agent(
                id=f"agent-{tenant_id}-{i}",
                tenant_id=tenant_id,
                role="agent",
                display_name=f"Agent {i}",
                capacity=capacity,
                presence="online" if online else "offline",
                presence_changed_at=now,
            )
            session.add(agent)
            ids.append(agent.id)
            # Each agent in one team; every fourth in a second one (English speakers help everywhere).
            session.add(
                TeamMember(team_id=team_ids[names[i % len(names)]], agent_id=agent.id, tenant_id=tenant_id)
            )
            if i % 4 == 0 and names[i % len(names)] != "English":
                session.add(TeamMember(team_id=team_ids["English"], agent_id=agent.id, tenant_id=tenant_id))
        for priority, (first, resolution) in PRIORITY_SLA.items():
            session.add(
                SlaPolicy(
                    tenant_id=tenant_id, priority=priority, first_response_s=first, resolution_s=resolution
                )
            )
        for position, spec in enumerate(rule_specs(rules, team_ids) if rules else []):
            rule_in = RoutingRuleCreate.model_validate(spec)  # the API's own validation
            session.add(
                RoutingRule(
                    tenant_id=tenant_id,
                    name=rule_in.name,
                    position=position,
                    trigger="mention",
                    conditions=rule_in.conditions.model_dump_json(exclude_unset=True),
                    actions=rule_in.actions.model_dump_json(exclude_defaults=True),
                )
            )
        session.add(RoutingVersion(tenant_id=tenant_id, version=1))
    return ids


async def route(
    sessions: Any, *, tenant_id: str, feed: Sequence[Any], batch: int, label: str
) -> tuple[float, float]:
    """Feed the payloads through `resolve_mentions`, `batch` per call and transaction (as the consumer
    hands it a fetched batch): wall and CPU seconds."""
    from services.engagement.logic.corrections import resolve_mentions
    from services.engagement.settings import EngagementSettings
    from shared.db import begin_immediate

    reopen_window = timedelta(seconds=EngagementSettings.model_fields["reopen_window_s"].default)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(feed), batch):
        async with sessions() as session:
            await begin_immediate(session)
            await resolve_mentions(
                session,
                tenant_id=tenant_id,
                resolved=feed[start : start + batch],
                reopen_window=reopen_window,
            )
            await session.commit()
        done = min(start + batch, len(feed))
        if done % max(batch, 1000 // batch * batch) == 0 or done == len(feed):
            log(f"  {label}: {done}/{len(feed)}  {done / (time.perf_counter() - wall):.0f}/s")
    return time.perf_counter() - wall, time.process_time() - cpu


class Heartbeats:
    """Where `set_presence` writes the heartbeat key after its commit (Redis in the service)."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def set(self, key: str, value: str, px: int | None = None) -> None:
        self.keys[key] = value

    async def delete(self, key: str) -> None:
        self.keys.pop(key, None)


async def tally(sessions: Any, tenant_id: str) -> dict[str, int]:
    """Conversations opened, assigned and queued; messages stored."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from services.engagement.models import Conversation, Message

    async with sessions() as session:
        conversations = (
            await session.execute(
                select(col(Conversation.assignee_id).is_(None), func.count())
                .where(col(Conversation.tenant_id) == tenant_id)
                .group_by(col(Conversation.assignee_id).is_(None))
            )
        ).all()
        messages = (
            await session.execute(select(func.count()).where(col(Message.tenant_id) == tenant_id))
        ).scalar_one()
    counts = {bool(queued): int(count) for queued, count in conversations}
    assigned, queued = counts.get(False, 0), counts.get(True, 0)
    return {"opened": assigned + queued, "assigned": assigned, "queued": queued, "messages": int(messages)}


async def over_capacity(sessions: Any, tenant_id: str) -> tuple[int, int]:
    """Agents holding more conversations in progress than their capacity, and the highest load seen."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from services.engagement.models import ACTIVE_STATUSES, Agent, Conversation

    async with sessions() as session:
        rows = (
            await session.execute(
                select(col(Agent.capacity), func.count(col(Conversation.id)))
                .join(Conversation, col(Conversation.assignee_id) == col(Agent.id))
                .where(col(Agent.tenant_id) == tenant_id, col(Conversation.status).in_(ACTIVE_STATUSES))
                .group_by(col(Agent.id), col(Agent.capacity))
            )
        ).all()
    over = sum(1 for cap, load in rows if load > cap)
    return over, max((int(load) for _, load in rows), default=0)


async def rules_alone(sessions: Any, *, tenant_id: str, feed: Sequence[Any]) -> tuple[float, float]:
    """`rules.decide` over the feed, its cache warm: wall and CPU seconds."""
    from services.engagement.logic import rules

    async with sessions() as session:
        await rules.decide(session, tenant_id=tenant_id, mention=feed[0].mention, profile=feed[0].profile)
        rules.CACHE.refresh_s = 3600.0  # the one version read a second is not what is measured here
        wall, cpu = time.perf_counter(), time.process_time()
        for resolved in feed:
            await rules.decide(
                session, tenant_id=tenant_id, mention=resolved.mention, profile=resolved.profile
            )
        spent = time.perf_counter() - wall, time.process_time() - cpu
        rules.CACHE.refresh_s = 1.0
    return spent


async def decisions(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    from services.engagement.logic import presence
    from shared.db import create_engine, session_factory
    from shared.migrations import upgrade_head

    url = f"sqlite+aiosqlite:///{db_dir / 'engagement.db'}"
    await asyncio.to_thread(upgrade_head, "engagement", url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        log(f"decisions: seeding {args.rules} rules, {len(TEAMS)} teams, {args.agents} online agents")
        await seed_tenant(
            sessions,
            tenant_id="t-route",
            rules=args.rules,
            agents=args.agents,
            capacity=args.capacity,
            online=True,
        )
        feed = resolved_mentions(args.n, seed=11)
        wall, cpu = await route(sessions, tenant_id="t-route", feed=feed, batch=args.batch, label="routed")
        counts = await tally(sessions, "t-route")
        rules_wall, rules_cpu = await rules_alone(sessions, tenant_id="t-route", feed=feed)

        log(f"drain: {args.agents} agents offline while {args.n} conversations open")
        agent_ids = await seed_tenant(
            sessions, tenant_id="t-queue", rules=0, agents=args.agents, capacity=args.capacity, online=False
        )
        queue_feed = resolved_mentions(args.n, seed=12, actionable_only=True)
        open_wall, _ = await route(
            sessions, tenant_id="t-queue", feed=queue_feed, batch=args.batch, label="queued"
        )
        queued_before = await tally(sessions, "t-queue")
        heartbeats = Heartbeats()
        wall_drain, cpu_drain = time.perf_counter(), time.process_time()
        for i, agent_id in enumerate(agent_ids, 1):
            async with sessions() as session:
                await presence.set_presence(
                    session,
                    heartbeats,  # type: ignore[arg-type]
                    tenant_id="t-queue",
                    agent_id=agent_id,
                    status="online",
                    ttl_s=60.0,
                )
            if i % 50 == 0 or i == len(agent_ids):
                log(f"  online: {i}/{len(agent_ids)}")
        drain_wall, drain_cpu = time.perf_counter() - wall_drain, time.process_time() - cpu_drain
        drained = await tally(sessions, "t-queue")
        over_route, max_route = await over_capacity(sessions, "t-route")
        over_queue, max_queue = await over_capacity(sessions, "t-queue")
    finally:
        await engine.dispose()
    n = len(feed)
    assignments = drained["assigned"] - queued_before["assigned"]
    return {
        "posts": n,
        "rules": args.rules,
        "agents": args.agents,
        "capacity": args.capacity,
        "batch": args.batch,
        "decisions_per_s": n / wall,
        "cpu_ms_per_decision": 1000 * cpu / n,
        "rules_only_per_s": n / rules_wall,
        "rules_only_cpu_us_per_post": 1e6 * rules_cpu / n,
        "opened": counts["opened"],
        "ignored": n - counts["messages"],
        "assigned": counts["assigned"],
        "queued": counts["queued"],
        "queue_opened_per_s": len(queue_feed) / open_wall,
        "queue_before": queued_before["queued"],
        "queue_assigned": assignments,
        "queue_left": drained["queued"],
        "drain_s": drain_wall,
        "assignments_per_s": assignments / drain_wall if drain_wall else 0.0,
        "drain_cpu_ms_per_assignment": 1000 * drain_cpu / max(assignments, 1),
        "over_capacity": over_route + over_queue,
        "max_load": max(max_route, max_queue),
    }


def print_decisions(f: dict[str, Any]) -> None:
    print(
        f"decisions: {f['posts']} posts, {f['rules']} rules, {f['agents']} agents online (capacity "
        f"{f['capacity']}), {f['batch']} per transaction, SQLite WAL"
    )
    print("| figure | value |")
    print("|---|---|")
    print(f"| routing decisions/s (resolve_mentions, committed) | {f['decisions_per_s']:.0f} |")
    print(f"| CPU ms per decision | {f['cpu_ms_per_decision']:.2f} |")
    print(f"| rules alone (`rules.decide`, cache warm): posts/s | {f['rules_only_per_s']:.0f} |")
    print(f"| rules alone: CPU µs per post | {f['rules_only_cpu_us_per_post']:.1f} |")
    print(
        f"| opened / ignored / assigned / queued | {f['opened']} / {f['ignored']} / "
        f"{f['assigned']} / {f['queued']} |"
    )
    print(f"| queue drain: conversations opened with nobody online, per s | {f['queue_opened_per_s']:.0f} |")
    print(
        f"| queue drain: {f['agents']} agents come online: assigned / left queued | "
        f"{f['queue_assigned']} / {f['queue_left']} (of {f['queue_before']}) |"
    )
    print(f"| queue drain: seconds | {f['drain_s']:.2f} |")
    print(f"| queue drain: assignments/s | {f['assignments_per_s']:.0f} |")
    print(f"| queue drain: CPU ms per assignment | {f['drain_cpu_ms_per_assignment']:.2f} |")
    print(f"| agents over capacity (highest load) | {f['over_capacity']} ({f['max_load']}) |")


# --- latency: the whole stack ------------------------------------------------------------------------


def api_rules(n: int) -> list[dict[str, Any]]:
    """Rules for the API (no teams in the latency tenant: no team actions)."""
    specs = []
    for spec in rule_specs(max(n, 5), {"VIP": "", "Sales": "", "DACH": ""}):
        actions = {k: v for k, v in spec["actions"].items() if k != "team_id"}
        if not actions:
            actions = {"labels": ["routed"]}
        specs.append({**spec, "actions": actions})
    return specs[-n:] if n else []


@dataclass
class Staff:
    tenant_id: str
    owner: dict[str, str]
    agents: list[tuple[str, dict[str, str]]]


def setup_staff(gateway: str, rules: int, agents: int, capacity: int) -> Staff:
    """Sign a tenant up; its rules, agents online with capacity raised."""
    import httpx

    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=gateway, timeout=30) as c:
        signed_up = c.post(
            "/v1/tenants", json={"name": "Bench routing", "admin_email": email, "admin_password": PASSWORD}
        )
        signed_up.raise_for_status()
        token = c.post("/v1/auth/token", json={"email": email, "password": PASSWORD}).json()["access_token"]
        owner = {"Authorization": f"Bearer {token}"}
        for spec in api_rules(rules):
            c.post("/v1/routing/rules", json=spec, headers=owner).raise_for_status()
        log(f"  {rules} rules created")
        staff = []
        for i in range(agents):
            agent_email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
            created = c.post(
                "/v1/users",
                headers=owner,
                json={
                    "email": agent_email,
                    "password": PASSWORD,
                    "role": "agent",
                    "display_name": f"Agent {i}",
                },
            )
            created.raise_for_status()
            agent_token = c.post("/v1/auth/token", json={"email": agent_email, "password": PASSWORD}).json()[
                "access_token"
            ]
            staff.append((str(created.json()["id"]), {"Authorization": f"Bearer {agent_token}"}))
        for agent_id, headers in staff:
            deadline = time.monotonic() + 30
            while True:  # the agent reaches engagement through identity.user.created
                response = c.put("/v1/agents/me/presence", json={"status": "online"}, headers=headers)
                if response.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"agent never became available: {response.status_code} {response.text}")
                time.sleep(0.2)
            c.patch(f"/v1/agents/{agent_id}", json={"capacity": capacity}, headers=owner).raise_for_status()
        log(f"  {agents} agents online, capacity {capacity}")
    return Staff(tenant_id=str(signed_up.json()["tenant"]["id"]), owner=owner, agents=staff)


def complaints(n: int) -> list[dict[str, Any]]:
    """`n` post bodies: the labelled complaints and questions, each by a new author."""
    rows = [r for r in labelled() if r["intent"] in ("complaint", "question")]
    run = uuid.uuid4().hex[:8]
    return [
        {
            "platform": "x",
            "external_id": f"{run}-{i}",
            "text": rows[i % len(rows)]["text"],
            "created_at": datetime.now(UTC).isoformat(),
            "url": f"https://example.com/status/{run}-{i}",
            "author": {"handle": f"@r{run}{i}", "display_name": f"R {i}", "followers": 100 + i % 900},
        }
        for i in range(n)
    ]


SUBJECTS = (
    "listening.mention.received",
    "listening.mention.reanalysed",
    "profiles.mention.resolved",
    "engagement.conversation.opened",
    "engagement.conversation.assigned",
)
STAGES = (
    "ingest → assignment",
    "opened at resolution: ingest → assignment",
    "ingest → listening.mention.received",
    "→ profiles.mention.resolved",
    "→ engagement assignment",
)


@dataclass
class Watch:
    """What the NATS subscriber saw for the tenant: when each mention was announced by listening and
    resolved by profiles, mention → conversation, conversation → assigned at."""

    tenant_id: str = ""
    received_at: dict[str, float] = field(default_factory=dict)
    resolved_at: dict[str, float] = field(default_factory=dict)
    reanalysed_at: dict[str, float] = field(default_factory=dict)
    conversation_of: dict[str, str] = field(default_factory=dict)
    assigned_at: dict[str, float] = field(default_factory=dict)

    def on_event(self, event: dict[str, Any], at: float) -> None:
        if self.tenant_id and event.get("tenantid") != self.tenant_id:
            return
        kind, data = event["type"], event["data"]
        if kind == "listening.mention.received":
            self.received_at.setdefault(data["mention_id"], at)
        elif kind == "listening.mention.reanalysed":
            self.reanalysed_at.setdefault(data["mention_id"], at)
        elif kind == "profiles.mention.resolved":
            self.resolved_at.setdefault(data["mention"]["mention_id"], at)
        elif kind == "engagement.conversation.opened":
            self.on_opened(data, at)
        elif kind == "engagement.conversation.assigned":
            self.on_assigned(data, at)

    def stages(self, accepted: dict[str, float]) -> dict[str, list[float]]:
        """Seconds per stage for the accepted mentions that reached an agent; the stages for those whose
        conversation opened when profiles resolved them (not later, by listening's quality re-score)."""
        out: dict[str, list[float]] = {name: [] for name in STAGES}
        for mention_id, at in accepted.items():
            assigned = self.assigned_at.get(self.conversation_of.get(mention_id, ""))
            if assigned is None:
                continue
            received = self.received_at.get(mention_id)
            resolved = self.resolved_at.get(mention_id)
            out["ingest → assignment"].append(assigned - at)
            if self.reanalysed_at.get(mention_id, assigned) < assigned:
                continue  # opened by a re-analysis (`mention.rerouted`): its wait is the quality tier's
            out["opened at resolution: ingest → assignment"].append(assigned - at)
            if received is not None and resolved is not None:
                out["ingest → listening.mention.received"].append(received - at)
                out["→ profiles.mention.resolved"].append(resolved - received)
                out["→ engagement assignment"].append(assigned - resolved)
        return out

    def on_opened(self, data: dict[str, Any], at: float) -> None:
        self.conversation_of[data["mention_id"]] = data["conversation_id"]
        if data.get("assignee_id"):
            self.assigned_at.setdefault(data["conversation_id"], at)

    def on_assigned(self, data: dict[str, Any], at: float) -> None:
        self.assigned_at.setdefault(data["conversation_id"], at)


async def paced(
    gateway: str, nats_url: str, staff: Staff, bodies: list[dict[str, Any]], rate: float, settle_s: float
) -> tuple[dict[str, float], Watch, float, int]:
    """Post the bodies at `rate` per second while watching NATS; accepted-at per mention id."""
    import aiohttp
    import nats

    auth = staff.owner
    watch = Watch(tenant_id=staff.tenant_id)
    nc = await nats.connect(nats_url)

    async def handler(msg: Any) -> None:
        watch.on_event(json.loads(msg.data), time.time())

    for subject in SUBJECTS:
        await nc.subscribe(subject, cb=handler)
    accepted: dict[str, float] = {}
    refused = 0
    limit = asyncio.Semaphore(200)

    async def one(session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        nonlocal refused
        async with limit, session.post(f"{gateway}/v1/mentions", json=body, headers=auth) as response:
            payload = await response.read()
            if response.status == 202:
                accepted[json.loads(payload)["id"]] = time.time()
            else:
                refused += 1

    started = time.monotonic()
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        for i, body in enumerate(bodies):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, body)))
            if (i + 1) % int(rate * 5) == 0:
                log(f"  posted {i + 1}/{len(bodies)}, assigned so far {len(watch.assigned_at)}")
        await asyncio.gather(*tasks)
    posting_s = time.monotonic() - started
    # Wait for the stragglers: until every opened post has its agent, or nothing moves for `settle_s`.
    last, quiet_since = -1, time.monotonic()
    while True:
        done = sum(1 for m in accepted if watch.conversation_of.get(m) in watch.assigned_at)
        if done != last:
            last, quiet_since = done, time.monotonic()
        if done == len(accepted) or time.monotonic() - quiet_since > settle_s:
            break
        await asyncio.sleep(0.5)
    await nc.close()
    return accepted, watch, posting_s, refused


def latency(args: argparse.Namespace) -> dict[str, Any]:
    from rapport.stack import Stack

    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="rapport-routing-")),
        env={
            "RAPPORT_RATE_LIMIT_PER_WINDOW": "10000000",
            "RAPPORT_LOGIN_RATE_LIMIT_PER_WINDOW": "100000",
            # No heartbeats in this bench: presence outlives it.
            "RAPPORT_PRESENCE_TTL_S": "3600",
        },
        status=lambda name, msg: log(f"  {name:<11} {msg}"),
    )
    stack.start_all()
    try:
        gateway = stack.gateway_url
        staff = setup_staff(gateway, args.rules, args.live_agents, args.live_capacity)
        bodies = complaints(int(args.rate * args.seconds))
        log(f"latency: posting {len(bodies)} posts at {args.rate:g}/s through {gateway}")
        accepted, watch, posting_s, refused = asyncio.run(
            paced(gateway, stack.nats_url, staff, bodies, args.rate, args.settle)
        )
    finally:
        stack.stop_all()
    stages = watch.stages(accepted)
    waits = stages["ingest → assignment"]
    opened = sum(1 for m in accepted if m in watch.conversation_of)
    rerouted = len(waits) - len(stages["opened at resolution: ingest → assignment"])
    span = max(accepted.values(), default=0.0) - min(accepted.values(), default=0.0)
    return {
        "posted": len(bodies),
        "accepted": len(accepted),
        "refused": refused,
        "rate_asked": args.rate,
        "rate_achieved": (len(accepted) - 1) / span if span else 0.0,
        "posting_s": posting_s,
        "load_average": os.getloadavg(),
        "rules": args.rules,
        "agents": args.live_agents,
        "opened": opened,
        "assigned": len(waits),
        "opened_by_reanalysis": rerouted,
        "p50_ms": 1000 * percentile(waits, 50),
        "p95_ms": 1000 * percentile(waits, 95),
        "p99_ms": 1000 * percentile(waits, 99),
        "max_ms": 1000 * max(waits, default=0.0),
        "stages_ms": {
            name: {
                "p50": 1000 * percentile(values, 50),
                "p95": 1000 * percentile(values, 95),
                "p99": 1000 * percentile(values, 99),
                "max": 1000 * max(values, default=0.0),
            }
            for name, values in stages.items()
        },
    }


def print_latency(f: dict[str, Any]) -> None:
    print(
        f"latency: whole stack (SQLite), {f['rules']} rules, {f['agents']} agents online; "
        f"{f['posted']} posts asked at {f['rate_asked']:g}/s, achieved {f['rate_achieved']:.1f}/s, "
        f"{f['accepted']} accepted ({f['refused']} refused)"
    )
    load = ", ".join(f"{x:.1f}" for x in f["load_average"])
    print(
        f"{f['opened']} opened a conversation, {f['assigned']} of them assigned to an agent "
        f"({f['opened_by_reanalysis']} opened later, by a quality re-analysis); "
        f"load average at the end {load}"
    )
    print("| stage (ms) | p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|")
    for name, q in f["stages_ms"].items():
        bold = "**" if name == "ingest → assignment" else ""
        print(f"| {bold}{name}{bold} | {q['p50']:.0f} | {q['p95']:.0f} | {q['p99']:.0f} | {q['max']:.0f} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("decisions", "latency", "all"), default="all", help="default all")
    parser.add_argument("-n", type=int, default=10_000, help="decisions: posts to route (default 10000)")
    parser.add_argument("--rules", type=int, default=50, help="routing rules (default 50)")
    parser.add_argument("--agents", type=int, default=200, help="decisions: agents (default 200)")
    parser.add_argument(
        "--capacity", type=int, default=25, help="decisions: each agent's capacity (default 25)"
    )
    parser.add_argument("--batch", type=int, default=50, help="decisions: posts per transaction (default 50)")
    parser.add_argument("--seconds", type=float, default=30, help="latency: seconds of posting (default 30)")
    parser.add_argument("--rate", type=float, default=100, help="latency: posts per second (default 100)")
    parser.add_argument("--live-agents", type=int, default=20, help="latency: agents (default 20)")
    parser.add_argument(
        "--live-capacity", type=int, default=200, help="latency: each agent's capacity (default 200)"
    )
    parser.add_argument(
        "--settle", type=float, default=30, help="latency: seconds without a new assignment to stop waiting"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures: dict[str, Any] = {}
    ok = True
    if args.part in ("decisions", "all"):
        with tempfile.TemporaryDirectory(prefix="rapport-routing-") as db_dir:
            figures["decisions"] = asyncio.run(decisions(args, Path(db_dir)))
        print_decisions(figures["decisions"])
        ok = ok and figures["decisions"]["over_capacity"] == 0
    if args.part in ("latency", "all"):
        figures["latency"] = latency(args)
        print_latency(figures["latency"])
        ok = ok and figures["latency"]["refused"] == 0
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
