"""Agents' presence: online (gets new work), away (keeps their conversations, gets no new ones), offline.

Two records, each for what it is good at. The database holds the stored fact routing reads and row
decisions are made on (`Agent.presence`, changed under the tenant's assignment lock); Redis holds the
heartbeat, a key per agent with a time to live, so a heartbeat is one Redis round trip and no database
write. An agent whose key lapsed is swept to offline by any replica's sweeper (`sweep`): it re-checks the
stored presence and the key under the tenant's lock, so several replicas sweeping at once act once.
Going offline (by hand, by a lapsed heartbeat, or by being deactivated) puts the agent's conversations
back in the queue; coming online drains the queue.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.engagement.errors import AgentNotFound, AgentUnavailable
from services.engagement.logic.assignment import ASSIGNMENT_LOCK, drain_queue, release_agent
from services.engagement.models import Agent
from services.engagement.schemas import PresenceRead
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.engagement.presence")

Presence = Literal["online", "away", "offline"]


def presence_key(tenant_id: str, agent_id: str) -> str:
    return f"rapport:engagement:presence:{tenant_id}:{agent_id}"


async def _change(session: AsyncSession, *, agent: Agent, to: str, reason: str, now: datetime) -> None:
    """Store the agent's new presence; offline re-queues their conversations, online drains the queue."""
    before, agent.presence, agent.presence_changed_at = agent.presence, to, now
    session.add(agent)
    await session.flush()
    log.info(
        "agent.presence_changed",
        extra={
            "tenant_id": agent.tenant_id,
            "agent_id": agent.id,
            "from": before,
            "to": to,
            "reason": reason,
        },
    )
    if to == "offline":
        await release_agent(session, agent=agent, reason=reason, now=now)
    elif to == "online":
        await drain_queue(session, tenant_id=agent.tenant_id, now=now)


async def set_presence(
    session: AsyncSession,
    redis: Redis,
    *,
    tenant_id: str,
    agent_id: str,
    status: Presence,
    ttl_s: float,
    now: datetime | None = None,
) -> PresenceRead:
    """Set the caller's presence (and count it as a heartbeat); commits."""
    now = now or utcnow()
    await begin_immediate(session)
    agent = await get_scoped(session, Agent, tenant_id=tenant_id, id=agent_id, error=AgentNotFound)
    if not agent.active:
        raise AgentUnavailable("A deactivated agent has no presence.")
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    if agent.presence != status:
        await _change(session, agent=agent, to=status, reason=f"agent went {status}", now=now)
    await session.commit()
    # After the commit: a key without its stored fact would be a heartbeat for nothing; the other way
    # round (committed, key not yet written) the sweeper's grace period (`ttl_s` since the change) covers.
    key = presence_key(tenant_id, agent_id)
    if status == "offline":
        await redis.delete(key)
    else:
        await redis.set(key, status, px=int(ttl_s * 1000))
    return PresenceRead(agent_id=agent_id, status=status, ttl_s=ttl_s if status != "offline" else None)


async def heartbeat(
    session: AsyncSession, redis: Redis, *, tenant_id: str, agent_id: str, ttl_s: float
) -> PresenceRead:
    """Keep the caller's presence alive for `ttl_s` more: one Redis round trip; the database only when
    the key had lapsed (then the stored presence, if not yet swept, is renewed; offline stays offline)."""
    key = presence_key(tenant_id, agent_id)
    pipe = redis.pipeline(transaction=False)
    pipe.pexpire(key, int(ttl_s * 1000))
    pipe.get(key)
    renewed, value = await pipe.execute()
    if renewed and value is not None:
        status = value.decode() if isinstance(value, bytes) else str(value)
        return PresenceRead(agent_id=agent_id, status=status, ttl_s=ttl_s)
    agent = await get_scoped(session, Agent, tenant_id=tenant_id, id=agent_id, error=AgentNotFound)
    if not agent.active or agent.presence == "offline":
        return PresenceRead(agent_id=agent_id, status="offline", ttl_s=None)
    await redis.set(key, agent.presence, px=int(ttl_s * 1000))
    return PresenceRead(agent_id=agent_id, status=agent.presence, ttl_s=ttl_s)


async def go_offline_if_lapsed(
    session: AsyncSession, redis: Redis, *, tenant_id: str, agent_id: str, ttl_s: float, now: datetime
) -> bool:
    """Under the tenant's lock, check again that the agent is still present in the database and has no
    heartbeat; then take them offline (their conversations back to the queue). Whether it did; commits."""
    await begin_immediate(session)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.tenant_id != tenant_id or agent.presence == "offline":
        await session.rollback()
        return False
    if agent.presence_changed_at is not None and agent.presence_changed_at > now - timedelta(seconds=ttl_s):
        await session.rollback()
        return False
    if await redis.exists(presence_key(tenant_id, agent_id)):
        await session.rollback()
        return False
    await _change(session, agent=agent, to="offline", reason="heartbeat lapsed", now=now)
    await session.commit()
    return True


async def sweep(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, *, ttl_s: float, now: datetime | None = None
) -> int:
    """Take offline the agents (of every tenant) whose heartbeat lapsed; how many."""
    now = now or utcnow()
    async with sessions() as session:
        rows = (
            await session.execute(
                select(col(Agent.tenant_id), col(Agent.id), col(Agent.presence_changed_at)).where(
                    col(Agent.presence) != "offline"
                )
            )
        ).all()
    grace = now - timedelta(seconds=ttl_s)
    stale = [(t, a) for t, a, changed in rows if changed is None or changed <= grace]
    if not stale:
        return 0
    pipe = redis.pipeline(transaction=False)
    for tenant_id, agent_id in stale:
        pipe.exists(presence_key(tenant_id, agent_id))
    alive = await pipe.execute()
    swept = 0
    for (tenant_id, agent_id), exists in zip(stale, alive, strict=True):
        if exists:
            continue
        async with sessions() as session:
            if await go_offline_if_lapsed(
                session, redis, tenant_id=tenant_id, agent_id=agent_id, ttl_s=ttl_s, now=now
            ):
                swept += 1
    return swept
