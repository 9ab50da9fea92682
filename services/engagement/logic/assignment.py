"""Assignment: which team and which agent take a conversation, the queue, and why.

A conversation goes to the team a routing rule set (`team_id`), else to the team whose skills match its
language (then its topics: the conversation's labels), else to the tenant's general pool. Within that
scope only online, active agents with free capacity are candidates; the best is the one who speaks the
conversation's language (a member of a team with that language), then knows its topics, then holds the
fewest conversations in progress, then waited longest since their last assignment (round robin on ties).

With no candidate the conversation waits in the queue (in progress, no assignee), ordered by its first
response deadline (none last), then priority (urgent first), then age; `drain_queue` hands it out the
moment capacity frees: a conversation finished or moved, an agent coming online, a capacity raised, a
member added to a team. Load counts conversations in progress (open, pending, snoozed).

Every choose-and-assign runs under the tenant's assignment lock (`shared.db.lock_tenant`), so two
replicas never both see the same free slot: no agent exceeds capacity through routing. Every decision is
stored on the conversation (`assignment_reason`, JSON) and shown with it.

`rank` and `pick_team` are pure (unit-tested alone); the rest reads and writes through the session and
never commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import (
    AgentUnavailable,
    ConversationConflict,
    ConversationNotFound,
    InvalidAssignment,
)
from services.engagement.logic.tenant_cache import TenantCache
from services.engagement.models import ACTIVE_STATUSES, Agent, Conversation, Team, TeamMember
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.events.contracts import ConversationAssigned, ConversationUnassigned, MentionPayload
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.languages import fold_language
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.engagement.assignment")

SOURCE = "engagement"
# Opening a conversation, projecting an agent, a presence change and every assignment take this lock.
ASSIGNMENT_LOCK = "engagement-assignment"
# Candidates written into a decision's reasons (the best first); the count of all is kept too.
REASON_CANDIDATES = 10
# Queued conversations read per round while draining.
DRAIN_CHUNK = 100
_PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def primary_language(code: str | None) -> str | None:
    """The folded primary subtag (`ar` for `ar-SA`); None for none or undetermined."""
    if not code:
        return None
    primary = fold_language(code).split("-")[0]
    return None if primary in ("", "und", "zxx", "mul") else primary


@dataclass(frozen=True)
class TeamSkills:
    """A team as routing sees it."""

    id: str
    name: str
    languages: frozenset[str]
    topics: frozenset[str]
    members: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    """An online agent in scope, with what ranks them."""

    agent_id: str
    load: int
    capacity: int
    last_assigned_at: datetime | None
    languages: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()

    @property
    def free(self) -> bool:
        return self.load < self.capacity


@dataclass(frozen=True)
class Scored:
    """A candidate with the match that ranked them."""

    candidate: Candidate
    language_match: bool
    topic_match: bool

    def reason(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "agent_id": c.agent_id,
            "load": c.load,
            "capacity": c.capacity,
            "language_match": self.language_match,
            "topic_match": self.topic_match,
            "last_assigned_at": c.last_assigned_at.isoformat() if c.last_assigned_at else None,
            "score": (2 if self.language_match else 0) + (1 if self.topic_match else 0),
        }


def rank(candidates: Iterable[Candidate], *, language: str | None, topics: Collection[str]) -> list[Scored]:
    """The candidates with free capacity, best first: language match, topic match, least loaded, longest
    since their last assignment (never assigned first), then id."""
    wanted = primary_language(language)
    scored = [
        Scored(
            candidate=c,
            language_match=wanted is not None and wanted in c.languages,
            topic_match=bool(set(topics) & c.topics),
        )
        for c in candidates
        if c.free
    ]

    def key(s: Scored) -> tuple[Any, ...]:
        c = s.candidate
        return (
            not s.language_match,
            not s.topic_match,
            c.load,
            c.last_assigned_at is not None,
            c.last_assigned_at.timestamp() if c.last_assigned_at else 0.0,
            c.agent_id,
        )

    return sorted(scored, key=key)


def pick_team(
    teams: Iterable[TeamSkills], *, language: str | None, topics: Collection[str]
) -> tuple[TeamSkills | None, str]:
    """The team whose skills match: language first, then the most topics in common, then by name; None
    when no team with members speaks the language or knows a topic (a team nobody is in could never
    answer: the general pool takes the conversation instead). With why."""
    wanted = primary_language(language)
    labels = set(topics)
    best: tuple[tuple[Any, ...], TeamSkills, str] | None = None
    for team in teams:
        if not team.members:
            continue
        speaks = wanted is not None and wanted in team.languages
        common = len(labels & team.topics)
        if not speaks and not common:
            continue
        key = (not speaks, -common, team.name, team.id)
        why = "; ".join(
            part
            for part in (
                f"speaks {wanted}" if speaks else "",
                f"{common} topic(s) in common" if common else "",
            )
            if part
        )
        if best is None or key < best[0]:
            best = (key, team, why)
    return (best[1], best[2]) if best else (None, "no team matches the language or topics")


def queue_order() -> tuple[Any, ...]:
    """The queue's order: first response deadline (none last), priority (urgent first), oldest first."""
    priority = case(
        *((col(Conversation.priority) == name, rank) for name, rank in _PRIORITY_RANK.items()), else_=9
    )
    return (
        col(Conversation.first_response_due_at).is_(None),
        col(Conversation.first_response_due_at).asc(),
        priority,
        col(Conversation.opened_at).asc(),
        col(Conversation.id).asc(),
    )


@dataclass
class Pool:
    """The tenant's teams and online agents (with their load), read once per decision or drain."""

    teams: dict[str, TeamSkills]
    agents: dict[str, Agent]
    load: dict[str, int]
    skills: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)

    def candidates(self, scope: Collection[str] | None, *, exclude: Collection[str] = ()) -> list[Candidate]:
        ids = self.agents.keys() if scope is None else [a for a in scope if a in self.agents]
        out = []
        for agent_id in ids:
            if agent_id in exclude:
                continue
            agent = self.agents[agent_id]
            languages, topics = self.skills.get(agent_id, (frozenset(), frozenset()))
            out.append(
                Candidate(
                    agent_id=agent_id,
                    load=self.load.get(agent_id, 0),
                    capacity=agent.capacity,
                    last_assigned_at=agent.last_assigned_at,
                    languages=languages,
                    topics=topics,
                )
            )
        return out

    def any_free(self) -> bool:
        return any(self.load.get(a, 0) < agent.capacity for a, agent in self.agents.items())


async def load_teams(session: AsyncSession, *, tenant_id: str) -> dict[str, TeamSkills]:
    """The tenant's teams with their skills and members, from the process's cache (`tenant_cache`)."""
    return await TEAMS.get(session, tenant_id)


async def _read_teams(session: AsyncSession, tenant_id: str) -> dict[str, TeamSkills]:
    """The tenant's teams with their skills and members (two queries)."""
    teams = (await session.execute(scoped(Team, tenant_id))).scalars().all()
    members: dict[str, set[str]] = {}
    rows = await session.execute(
        select(col(TeamMember.team_id), col(TeamMember.agent_id)).where(
            col(TeamMember.tenant_id) == tenant_id
        )
    )
    for team_id, agent_id in rows.all():
        members.setdefault(team_id, set()).add(agent_id)
    return {
        t.id: TeamSkills(
            id=t.id,
            name=t.name,
            languages=frozenset(json.loads(t.languages)),
            topics=frozenset(json.loads(t.topics)),
            members=frozenset(members.get(t.id, ())),
        )
        for t in teams
    }


TEAMS: TenantCache[dict[str, TeamSkills]] = TenantCache(_read_teams)


async def load_pool(session: AsyncSession, *, tenant_id: str) -> Pool:
    """The tenant's teams and its active online agents with their conversations in progress."""
    teams = await load_teams(session, tenant_id=tenant_id)
    load = (
        select(func.count())
        .where(
            col(Conversation.tenant_id) == tenant_id,
            col(Conversation.assignee_id) == col(Agent.id),
            col(Conversation.status).in_(ACTIVE_STATUSES),
        )
        .correlate(Agent)
        .scalar_subquery()
    )
    stmt = select(Agent, load).where(
        col(Agent.tenant_id) == tenant_id, col(Agent.active).is_(True), col(Agent.presence) == "online"
    )
    agents: dict[str, Agent] = {}
    loads: dict[str, int] = {}
    for agent, count in (await session.execute(stmt)).all():
        agents[agent.id], loads[agent.id] = agent, int(count)
    skills: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for team in teams.values():
        for agent_id in team.members:
            languages, topics = skills.get(agent_id, (frozenset(), frozenset()))
            skills[agent_id] = (languages | team.languages, topics | team.topics)
    return Pool(teams=teams, agents=agents, load=loads, skills=skills)


def labels_of(conversation: Conversation) -> list[str]:
    labels: list[str] = json.loads(conversation.labels or "[]")
    return labels


def _team_reason(team: TeamSkills | None, how: str, why: str) -> dict[str, Any]:
    if team is None:
        return {"id": None, "chosen_by": how, "why": why}
    return {"id": team.id, "name": team.name, "chosen_by": how, "why": why}


def place(
    session: AsyncSession,
    *,
    conversation: Conversation,
    pool: Pool,
    by: str,
    team: dict[str, Any] | None,
    now: datetime,
    exclude: Collection[str] = (),
    note: str | None = None,
) -> str | None:
    """Give the conversation to the best candidate of its team (or the pool), or leave it queued; store
    the reasons either way. The agent's id, or None when it waits."""
    scope_team = pool.teams.get(conversation.team_id) if conversation.team_id else None
    scope = scope_team.members if scope_team is not None else None
    candidates = pool.candidates(scope, exclude=exclude)
    ranked = rank(candidates, language=conversation.language, topics=labels_of(conversation))
    winner = ranked[0].candidate if ranked else None
    reason: dict[str, Any] = {
        "at": now.isoformat(),
        "by": by,
        "team": team,
        "language": conversation.language,
        "topics": labels_of(conversation),
        "online_in_scope": len(candidates),
        "at_capacity": sum(1 for c in candidates if not c.free),
        "candidates": [s.reason() for s in ranked[:REASON_CANDIDATES]],
        "winner": winner.agent_id if winner else None,
        "queued": winner is None,
    }
    if note:
        reason["note"] = note
    if exclude:
        reason["excluded"] = sorted(exclude)
    conversation.assignment_reason = json.dumps(reason)
    session.add(conversation)
    if winner is None:
        log.info(
            "conversation.queued",
            extra={"tenant_id": conversation.tenant_id, "conversation_id": conversation.id},
        )
        return None
    give(session, conversation=conversation, agent=pool.agents[winner.agent_id], reason=by, now=now)
    pool.load[winner.agent_id] = pool.load.get(winner.agent_id, 0) + 1
    return winner.agent_id


def give(
    session: AsyncSession, *, conversation: Conversation, agent: Agent, reason: str, now: datetime
) -> None:
    """Set the assignee and stage `engagement.conversation.assigned` (reasons are the caller's)."""
    conversation.assignee_id = agent.id
    conversation.updated_at = now
    agent.last_assigned_at = now
    session.add_all([conversation, agent])
    stage(
        session,
        new_event(
            ConversationAssigned(
                conversation_id=conversation.id,
                assignee_id=agent.id,
                team_id=conversation.team_id,
                reason=reason,
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.assigned",
        extra={
            "tenant_id": conversation.tenant_id,
            "conversation_id": conversation.id,
            "agent_id": agent.id,
            "reason": reason,
        },
    )


def unassign(session: AsyncSession, *, conversation: Conversation, reason: str, now: datetime) -> None:
    """Clear the assignee (back to the queue), record why and stage `engagement.conversation.unassigned`."""
    previous = conversation.assignee_id
    conversation.assignee_id = None
    conversation.updated_at = now
    conversation.assignment_reason = json.dumps(
        {
            "at": now.isoformat(),
            "by": "requeue",
            "reason": reason,
            "previous_assignee_id": previous,
            "queued": True,
        }
    )
    session.add(conversation)
    if previous is None:
        return
    stage(
        session,
        new_event(
            ConversationUnassigned(
                conversation_id=conversation.id, previous_assignee_id=previous, reason=reason
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.unassigned",
        extra={"tenant_id": conversation.tenant_id, "conversation_id": conversation.id, "agent_id": previous},
    )


async def assign_new(
    session: AsyncSession,
    *,
    conversation: Conversation,
    mention: MentionPayload | None,
    now: datetime,
    pool: Pool | None = None,
) -> None:
    """Route a conversation just opened (its row flushed): its team (a rule's, else by skills), then an
    agent, or the queue; with the reasons stored. `pool`: the tenant's pool as the caller holds it under
    the assignment lock, current (a batch's: `place` keeps its loads); else it is read here."""
    if pool is None:
        await lock_tenant(session, ASSIGNMENT_LOCK, conversation.tenant_id)
    if mention is not None and not conversation.language:
        conversation.language = mention.analysis.language[:16]
    if pool is None:
        pool = await load_pool(session, tenant_id=conversation.tenant_id)
    if conversation.team_id is not None:
        ruled = pool.teams.get(conversation.team_id)
        team_reason = _team_reason(ruled, "rule", "set by a routing rule")
        if ruled is None:
            team_reason["id"] = conversation.team_id
            team_reason["why"] = "set by a routing rule; the team is unknown, so the general pool"
    else:
        team, why = pick_team(
            pool.teams.values(), language=conversation.language, topics=labels_of(conversation)
        )
        if team is not None:
            conversation.team_id = team.id
        team_reason = _team_reason(team, "skills" if team else "pool", why)
    place(
        session, conversation=conversation, pool=pool, by=team_reason["chosen_by"], team=team_reason, now=now
    )


async def requeue(session: AsyncSession, *, conversation: Conversation, reason: str, now: datetime) -> None:
    """Take the conversation from its agent (back to the queue, `reason` recorded) and give it to someone
    else at once if anyone in its scope is free (never the same agent); the rest of the queue follows."""
    await lock_tenant(session, ASSIGNMENT_LOCK, conversation.tenant_id)
    previous = conversation.assignee_id
    unassign(session, conversation=conversation, reason=reason, now=now)
    await session.flush()
    pool = await load_pool(session, tenant_id=conversation.tenant_id)
    place(
        session,
        conversation=conversation,
        pool=pool,
        by="requeue",
        team=_scope_reason(pool, conversation),
        now=now,
        exclude={previous} if previous else (),
        note=reason,
    )
    await session.flush()
    await drain_queue(session, tenant_id=conversation.tenant_id, now=now)


def _scope_reason(pool: Pool, conversation: Conversation) -> dict[str, Any]:
    if conversation.team_id is None:
        return _team_reason(None, "pool", "no team")
    return _team_reason(pool.teams.get(conversation.team_id), "kept", "the conversation's team")


async def release_agent(session: AsyncSession, *, agent: Agent, reason: str, now: datetime) -> int:
    """Put every conversation in progress of the agent back in the queue (then drain it); how many."""
    await lock_tenant(session, ASSIGNMENT_LOCK, agent.tenant_id)
    stmt = scoped(Conversation, agent.tenant_id).where(
        col(Conversation.assignee_id) == agent.id, col(Conversation.status).in_(ACTIVE_STATUSES)
    )
    held = list((await session.execute(stmt)).scalars().all())
    for conversation in held:
        unassign(session, conversation=conversation, reason=reason, now=now)
    await session.flush()
    if held:
        await drain_queue(session, tenant_id=agent.tenant_id, now=now)
    return len(held)


async def drain_queue(session: AsyncSession, *, tenant_id: str, now: datetime) -> int:
    """Assign the tenant's queued conversations, in queue order, while any agent in their scope has free
    capacity; how many were assigned."""
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    pool = await load_pool(session, tenant_id=tenant_id)
    assigned = 0
    while pool.any_free():
        # Only conversations whose scope has room: a long queue for a full team is never read.
        rooms = [t.id for t in pool.teams.values() if any(c.free for c in pool.candidates(t.members))]
        stmt = (
            scoped(Conversation, tenant_id)
            .where(
                col(Conversation.assignee_id).is_(None),
                col(Conversation.status).in_(ACTIVE_STATUSES),
                or_(
                    col(Conversation.team_id).is_(None),
                    col(Conversation.team_id).in_(rooms),
                    col(Conversation.team_id).not_in(list(pool.teams)),
                ),
            )
            .order_by(*queue_order())
            .limit(DRAIN_CHUNK)
        )
        batch = list((await session.execute(stmt)).scalars().all())
        placed = 0
        for conversation in batch:
            if not _scope_has_room(pool, conversation):
                continue
            if place(
                session,
                conversation=conversation,
                pool=pool,
                by="queue",
                team=_scope_reason(pool, conversation),
                now=now,
                note=_waiting_note(conversation),
            ):
                placed += 1
            if not pool.any_free():
                break
        await session.flush()
        assigned += placed
        if not placed:
            break
    if assigned:
        log.info("queue.drained", extra={"tenant_id": tenant_id, "count": assigned})
    return assigned


def _scope_has_room(pool: Pool, conversation: Conversation) -> bool:
    team = pool.teams.get(conversation.team_id) if conversation.team_id else None
    return any(c.free for c in pool.candidates(team.members if team else None))


def _waiting_note(conversation: Conversation) -> str | None:
    if not conversation.assignment_reason:
        return None
    earlier = json.loads(conversation.assignment_reason)
    if earlier.get("by") == "requeue":
        return f"requeued: {earlier.get('reason')}"
    return "waited in the queue"


def reasons_of(raw: str | None) -> dict[str, Any] | None:
    """A stored assignment reason as a mapping (None when there is none)."""
    return json.loads(raw) if raw else None


async def load_of(session: AsyncSession, *, agent: Agent) -> int:
    """How many conversations in progress the agent holds."""
    stmt = select(func.count()).where(
        col(Conversation.tenant_id) == agent.tenant_id,
        col(Conversation.assignee_id) == agent.id,
        col(Conversation.status).in_(ACTIVE_STATUSES),
    )
    return int((await session.execute(stmt)).scalar_one())


async def assign_by_hand(
    session: AsyncSession,
    *,
    conversation: Conversation,
    agent_id: str | None,
    team_id: str | None,
    by_user_id: str,
    now: datetime,
) -> None:
    """A person moves a conversation in progress: to a team (routed within it, or queued there) and/or to
    an agent. A manual move may exceed the agent's capacity (a supervisor's call, recorded as
    `over_capacity`) but never goes to an offline or deactivated agent. No commit."""
    if conversation.status not in ACTIVE_STATUSES:
        raise ConversationConflict("A resolved or closed conversation is not assigned: reopen it first.")
    await lock_tenant(session, ASSIGNMENT_LOCK, conversation.tenant_id)
    who = f"manual by {by_user_id}"
    agent: Agent | None = None
    if agent_id is not None:
        agent = await session.get(Agent, agent_id)
        if agent is None or agent.tenant_id != conversation.tenant_id or not agent.active:
            raise InvalidAssignment("`agent_id` is not an active agent of the tenant.")
        if agent.presence == "offline":
            raise AgentUnavailable("The agent is offline: they get conversations once online or away.")
    if team_id is not None:
        team = (
            (await session.execute(scoped(Team, conversation.tenant_id).where(col(Team.id) == team_id)))
            .scalars()
            .first()
        )
        if team is None:
            raise InvalidAssignment("`team_id` is not a team of the tenant.")
        if team.id != conversation.team_id or agent is None:
            if conversation.assignee_id is not None and (
                agent is None or agent.id != conversation.assignee_id
            ):
                unassign(
                    session, conversation=conversation, reason=f"moved to team {team.name} ({who})", now=now
                )
            conversation.team_id = team.id
        if agent is None:
            await session.flush()
            pool = await load_pool(session, tenant_id=conversation.tenant_id)
            place(
                session,
                conversation=conversation,
                pool=pool,
                by="manual",
                team=_team_reason(pool.teams.get(team.id), "manual", who),
                now=now,
            )
    if agent is not None and agent.id != conversation.assignee_id:
        load = await load_of(session, agent=agent)
        conversation.assignment_reason = json.dumps(
            {
                "at": now.isoformat(),
                "by": "manual",
                "by_user_id": by_user_id,
                "team": {"id": conversation.team_id, "chosen_by": "manual" if team_id else "kept"},
                "candidates": [
                    {
                        "agent_id": agent.id,
                        "load": load,
                        "capacity": agent.capacity,
                        "presence": agent.presence,
                    }
                ],
                "winner": agent.id,
                "over_capacity": load >= agent.capacity,
                "previous_assignee_id": conversation.assignee_id,
                "queued": False,
            }
        )
        give(session, conversation=conversation, agent=agent, reason="manual", now=now)
    await session.flush()
    await drain_queue(session, tenant_id=conversation.tenant_id, now=now)


async def reclaim(session: AsyncSession, *, conversation: Conversation, now: datetime) -> None:
    """A conversation back in progress (the customer reopened it): its agent keeps it if online with room,
    else it goes to the queue and whoever is free."""
    await lock_tenant(session, ASSIGNMENT_LOCK, conversation.tenant_id)
    if conversation.assignee_id is not None:
        agent = await session.get(Agent, conversation.assignee_id)
        if agent is not None and agent.active and agent.presence == "online":
            await session.flush()
            # The reopened conversation already counts in the load (it is in progress again).
            if await load_of(session, agent=agent) <= agent.capacity:
                return
        unassign(
            session, conversation=conversation, reason="reopened while its agent was unavailable", now=now
        )
        await session.flush()
    pool = await load_pool(session, tenant_id=conversation.tenant_id)
    place(
        session,
        conversation=conversation,
        pool=pool,
        by="queue",
        team=_scope_reason(pool, conversation),
        now=now,
    )


async def move_by_hand(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    agent_id: str | None,
    team_id: str | None,
    by_user_id: str,
) -> None:
    """`assign_by_hand` on one conversation of the tenant; commits."""
    await begin_immediate(session)
    conversation = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=conversation_id, error=ConversationNotFound
    )
    await assign_by_hand(
        session,
        conversation=conversation,
        agent_id=agent_id,
        team_id=team_id,
        by_user_id=by_user_id,
        now=utcnow(),
    )
    await session.commit()
