"""Teams: skills (languages, topics) and business hours routing reads, and their members."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import AgentNotFound, TeamConflict, TeamNotFound
from services.engagement.logic.assignment import ASSIGNMENT_LOCK, drain_queue
from services.engagement.logic.tenant_cache import bump_version
from services.engagement.models import ACTIVE_STATUSES, Agent, Conversation, Team, TeamMember
from services.engagement.schemas import TeamCreate, TeamPage, TeamRead, TeamUpdate
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.engagement.teams")


def _hours_json(team_in: TeamCreate | TeamUpdate) -> str | None:
    hours = team_in.business_hours
    return None if hours is None else hours.model_dump_json()


async def _members(session: AsyncSession, *, team_ids: list[str]) -> dict[str, list[str]]:
    if not team_ids:
        return {}
    rows = await session.execute(
        select(col(TeamMember.team_id), col(TeamMember.agent_id))
        .where(col(TeamMember.team_id).in_(team_ids))
        .order_by(col(TeamMember.created_at).asc(), col(TeamMember.agent_id).asc())
    )
    members: dict[str, list[str]] = {}
    for team_id, agent_id in rows.all():
        members.setdefault(team_id, []).append(agent_id)
    return members


def _read(team: Any, member_ids: list[str]) -> TeamRead:
    return TeamRead.model_validate(
        {
            "id": team.id,
            "name": team.name,
            "languages": team.languages,
            "topics": team.topics,
            "business_hours": team.business_hours,
            "member_ids": member_ids,
            "created_at": team.created_at,
            "updated_at": team.updated_at,
        }
    )


async def _commit(session: AsyncSession, tenant_id: str) -> None:
    """Commit a team's creation or change (the routing caches reload it); a taken name is a 409."""
    try:
        await bump_version(session, tenant_id)  # its statement flushes the team first
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise TeamConflict("The tenant has a team of this name already.") from None


async def create_team(session: AsyncSession, *, tenant_id: str, team_in: TeamCreate) -> TeamRead:
    """Create a team of the tenant (names are unique within the tenant)."""
    now = utcnow()
    team = Team(
        tenant_id=tenant_id,
        name=team_in.name,
        languages=json.dumps(team_in.languages),
        topics=json.dumps(team_in.topics),
        business_hours=_hours_json(team_in),
        created_at=now,
        updated_at=now,
    )
    session.add(team)
    await _commit(session, tenant_id)
    log.info("team.created", extra={"tenant_id": tenant_id, "team_id": team.id})
    return _read(team, [])


async def get_team(session: AsyncSession, *, tenant_id: str, team_id: str) -> TeamRead:
    """One team of the tenant with its members."""
    team = await get_scoped(session, Team, tenant_id=tenant_id, id=team_id, error=TeamNotFound)
    return _read(team, (await _members(session, team_ids=[team.id])).get(team.id, []))


async def list_teams(
    reader: Reader, session: AsyncSession, *, tenant_id: str, limit: int, cursor: str | None
) -> TeamPage:
    """The tenant's teams, newest first, each with its members."""
    rows, next_cursor = await page_of(reader, Team, tenant_id=tenant_id, limit=limit, cursor=cursor)
    members = await _members(session, team_ids=[row.id for row in rows])
    return TeamPage(items=[_read(row, members.get(row.id, [])) for row in rows], next_cursor=next_cursor)


async def update_team(
    session: AsyncSession, *, tenant_id: str, team_id: str, team_in: TeamUpdate
) -> TeamRead:
    """Change a team's name, skills or business hours."""
    team = await get_scoped(session, Team, tenant_id=tenant_id, id=team_id, error=TeamNotFound)
    given = team_in.model_fields_set
    if "name" in given and team_in.name is not None:
        team.name = team_in.name
    if "languages" in given and team_in.languages is not None:
        team.languages = json.dumps(team_in.languages)
    if "topics" in given and team_in.topics is not None:
        team.topics = json.dumps(team_in.topics)
    if "business_hours" in given:
        team.business_hours = _hours_json(team_in)
    team.updated_at = utcnow()
    session.add(team)
    await _commit(session, tenant_id)
    log.info("team.updated", extra={"tenant_id": tenant_id, "team_id": team.id})
    return _read(team, (await _members(session, team_ids=[team.id])).get(team.id, []))


async def delete_team(session: AsyncSession, *, tenant_id: str, team_id: str) -> None:
    """Delete a team: its members leave it, and its conversations in progress go to the general pool."""
    await begin_immediate(session)
    team = await get_scoped(session, Team, tenant_id=tenant_id, id=team_id, error=TeamNotFound)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    await session.execute(delete(TeamMember).where(col(TeamMember.team_id) == team.id))
    await session.execute(
        update(Conversation)
        .where(
            col(Conversation.tenant_id) == tenant_id,
            col(Conversation.team_id) == team.id,
            col(Conversation.status).in_(ACTIVE_STATUSES),
        )
        .values(team_id=None)
    )
    await session.delete(team)
    await bump_version(session, tenant_id)
    await session.flush()
    await drain_queue(session, tenant_id=tenant_id, now=utcnow())
    await session.commit()
    log.info("team.deleted", extra={"tenant_id": tenant_id, "team_id": team_id})


async def add_member(session: AsyncSession, *, tenant_id: str, team_id: str, agent_id: str) -> TeamRead:
    """Make an agent of the tenant a member of the team (idempotent); the team's queue drains into them."""
    await begin_immediate(session)
    team = await get_scoped(session, Team, tenant_id=tenant_id, id=team_id, error=TeamNotFound)
    await get_scoped(session, Agent, tenant_id=tenant_id, id=agent_id, error=AgentNotFound)
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    if await session.get(TeamMember, (team.id, agent_id)) is None:
        session.add(TeamMember(team_id=team.id, agent_id=agent_id, tenant_id=tenant_id))
        await bump_version(session, tenant_id)
        await session.flush()
        await drain_queue(session, tenant_id=tenant_id, now=utcnow())
        log.info(
            "team.member_added", extra={"tenant_id": tenant_id, "team_id": team.id, "agent_id": agent_id}
        )
    await session.commit()
    return _read(team, (await _members(session, team_ids=[team.id])).get(team.id, []))


async def remove_member(session: AsyncSession, *, tenant_id: str, team_id: str, agent_id: str) -> None:
    """Take an agent out of the team (conversations they hold stay theirs); not a member: nothing to do."""
    team = await get_scoped(session, Team, tenant_id=tenant_id, id=team_id, error=TeamNotFound)
    await session.execute(
        delete(TeamMember).where(col(TeamMember.team_id) == team.id, col(TeamMember.agent_id) == agent_id)
    )
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("team.member_removed", extra={"tenant_id": tenant_id, "team_id": team.id, "agent_id": agent_id})
