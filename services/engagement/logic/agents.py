"""The agents projection (from identity's users) and what admins change on an agent (capacity)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.errors import AgentNotFound
from services.engagement.logic.assignment import ASSIGNMENT_LOCK, drain_queue, release_agent
from services.engagement.models import Agent
from services.engagement.schemas import AgentPage, AgentRead, AgentUpdate
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.events.contracts import UserCreated, UserUpdated
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.engagement.agents")

ASSIGNABLE_ROLES = frozenset({"agent"})
# Conversations in progress a new agent holds at most, when the caller gives no setting.
DEFAULT_CAPACITY = 5


async def project_user(
    session: AsyncSession, *, tenant_id: str, user: UserCreated, capacity: int = DEFAULT_CAPACITY
) -> Agent | None:
    """Record a new agent (other roles are ignored), offline until they say they are online."""
    if user.role not in ASSIGNABLE_ROLES:
        return None
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    agent = await session.get(Agent, user.user_id)
    if agent is not None:
        return agent
    agent = Agent(
        id=user.user_id,
        tenant_id=tenant_id,
        role=user.role,
        display_name=user.display_name,
        capacity=capacity,
    )
    session.add(agent)
    await session.flush()
    log.info("agent.projected", extra={"tenant_id": tenant_id, "agent_id": agent.id})
    return agent


async def update_agent(
    session: AsyncSession, *, tenant_id: str, user: UserUpdated, capacity: int = DEFAULT_CAPACITY
) -> Agent | None:
    """Follow a user's role and active flag: only active users of an assignable role get work; one who
    stops being one goes offline and their conversations in progress go back to the queue."""
    assignable = user.active and user.role in ASSIGNABLE_ROLES
    agent = await session.get(Agent, user.user_id)
    if agent is None or agent.tenant_id != tenant_id:
        if not assignable:
            return None
        created = UserCreated(user_id=user.user_id, role=user.role)
        return await project_user(session, tenant_id=tenant_id, user=created, capacity=capacity)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    agent.role, agent.active = user.role, assignable
    now = utcnow()
    if not assignable and agent.presence != "offline":
        agent.presence, agent.presence_changed_at = "offline", now
    session.add(agent)
    await session.flush()
    log.info("agent.updated", extra={"tenant_id": tenant_id, "agent_id": agent.id, "active": assignable})
    if not assignable:
        reason = "agent deactivated" if not user.active else "no longer an agent"
        await release_agent(session, agent=agent, reason=reason, now=now)
    return agent


async def update_capacity(
    session: AsyncSession, *, tenant_id: str, agent_id: str, update_in: AgentUpdate
) -> AgentRead:
    """Change an agent's capacity; raised, the queue drains into it. Commits."""
    await begin_immediate(session)
    agent = await get_scoped(session, Agent, tenant_id=tenant_id, id=agent_id, error=AgentNotFound)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    raised = update_in.capacity > agent.capacity
    agent.capacity = update_in.capacity
    session.add(agent)
    await session.flush()
    if raised:
        await drain_queue(session, tenant_id=tenant_id, now=utcnow())
    await session.commit()
    log.info("agent.capacity_changed", extra={"tenant_id": tenant_id, "agent_id": agent_id})
    return AgentRead.model_validate(agent, from_attributes=True)


async def list_agents(reader: Reader, *, tenant_id: str, limit: int, cursor: str | None) -> AgentPage:
    """The tenant's agents known to routing, newest first."""
    rows, next_cursor = await page_of(
        reader, Agent, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=AgentRead
    )
    return AgentPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)
