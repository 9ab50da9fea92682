"""The agents projection and round-robin assignment."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.models import ACTIVE_STATUSES, Agent, Conversation
from services.engagement.schemas import AgentPage, AgentRead
from shared.db import lock_tenant, utcnow
from shared.events.contracts import ConversationAssigned, UserCreated, UserUpdated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import scoped

log = logging.getLogger("rapport.engagement.agents")

ASSIGNABLE_ROLES = frozenset({"agent"})
SOURCE = "engagement"
# Opening a conversation and projecting an agent take this lock, so neither misses the other's row.
ASSIGNMENT_LOCK = "engagement-assignment"


async def project_user(session: AsyncSession, *, tenant_id: str, user: UserCreated) -> Agent | None:
    """Record a new agent (other roles are ignored) and hand it any unassigned conversations in progress."""
    if user.role not in ASSIGNABLE_ROLES:
        return None
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)  # against a conversation opened meanwhile
    agent = await session.get(Agent, user.user_id)
    if agent is not None:
        return agent
    agent = Agent(id=user.user_id, tenant_id=tenant_id, role=user.role, display_name=user.display_name)
    session.add(agent)
    await session.flush()
    log.info("agent.projected", extra={"tenant_id": tenant_id, "agent_id": agent.id})
    await assign_backlog(session, tenant_id=tenant_id)
    return agent


async def update_agent(session: AsyncSession, *, tenant_id: str, user: UserUpdated) -> Agent | None:
    """Follow a user's role and active flag: only active users of an assignable role get new work."""
    assignable = user.active and user.role in ASSIGNABLE_ROLES
    agent = await session.get(Agent, user.user_id)
    if agent is None or agent.tenant_id != tenant_id:
        if not assignable:
            return None
        created = UserCreated(user_id=user.user_id, role=user.role)
        return await project_user(session, tenant_id=tenant_id, user=created)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    agent.role, agent.active = user.role, assignable
    await session.flush()
    log.info("agent.updated", extra={"tenant_id": tenant_id, "agent_id": agent.id, "active": assignable})
    if assignable:
        await assign_backlog(session, tenant_id=tenant_id)
    return agent


async def next_agent(session: AsyncSession, *, tenant_id: str) -> Agent | None:
    """The active agent whose turn it is: the one assigned longest ago (never assigned first), by id."""
    stmt = (
        scoped(Agent, tenant_id)
        .where(col(Agent.active).is_(True))
        .order_by(col(Agent.last_assigned_at).asc().nulls_first(), col(Agent.id).asc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


def assign(session: AsyncSession, *, conversation: Conversation, agent: Agent, now: datetime) -> None:
    """Give the conversation to the agent and stage `engagement.conversation.assigned`."""
    conversation.assignee_id = agent.id
    conversation.updated_at = now
    agent.last_assigned_at = now
    session.add_all([conversation, agent])
    stage(
        session,
        new_event(
            ConversationAssigned(conversation_id=conversation.id, assignee_id=agent.id),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.assigned",
        extra={"tenant_id": conversation.tenant_id, "conversation_id": conversation.id, "agent_id": agent.id},
    )


async def assign_backlog(session: AsyncSession, *, tenant_id: str) -> int:
    """Assign the tenant's unassigned conversations in progress, oldest first, round-robin."""
    stmt = (
        scoped(Conversation, tenant_id)
        .where(col(Conversation.status).in_(ACTIVE_STATUSES), col(Conversation.assignee_id).is_(None))
        .order_by(col(Conversation.opened_at).asc(), col(Conversation.id).asc())
    )
    backlog = list((await session.execute(stmt)).scalars().all())
    for conversation in backlog:
        agent = await next_agent(session, tenant_id=tenant_id)
        if agent is None:
            break
        assign(session, conversation=conversation, agent=agent, now=utcnow())
        await session.flush()
    return len(backlog)


async def list_agents(reader: Reader, *, tenant_id: str, limit: int, cursor: str | None) -> AgentPage:
    """The tenant's agents known to routing, newest first."""
    rows, next_cursor = await page_of(
        reader, Agent, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=AgentRead
    )
    return AgentPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)
