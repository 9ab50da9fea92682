"""The per-process cache of a tenant's routing configuration (rules, teams, SLA targets): an edit made by
this process shows at once, and even within the same transaction; one made by another replica (another
process's cache is not told) shows once the version row is looked at again, and not before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.engagement.logic import assignment, sla
from services.engagement.logic.teams import add_member, create_team
from services.engagement.logic.tenant_cache import TenantCache, bump_version
from services.engagement.models import Agent
from services.engagement.schemas import TeamCreate
from shared.db import create_engine, session_factory
from tests.engagement.test_rules import forget_all
from tests.helpers import create_tables

pytestmark = pytest.mark.anyio
TENANT = "t1"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    await create_tables(engine)
    forget_all()
    TenantCache.set_refresh(3600.0)  # only edits, never the clock, make these tests' caches look again
    yield session_factory(engine)
    TenantCache.set_refresh(1.0)
    forget_all()
    await engine.dispose()


async def targets(sessions: async_sessionmaker[AsyncSession]) -> dict[str, sla.Targets]:
    async with sessions() as session:
        return await sla.TARGETS_CACHE.get(session, TENANT)


async def test_this_process_sees_its_own_edits_at_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await targets(sessions) == {}
    async with sessions() as session:
        await sla.put_policy(
            session,
            tenant_id=TENANT,
            priority="high",
            first_response_s=60,
            resolution_s=600,
            business_hours=False,
        )
    assert (await targets(sessions))["high"] == sla.Targets(60, 600, False)

    async with sessions() as session:
        team = await create_team(
            session, tenant_id=TENANT, team_in=TeamCreate(name="Arabic", languages=["ar"])
        )
    async with sessions() as session:
        teams = await assignment.load_teams(session, tenant_id=TENANT)
    assert teams[team.id].languages == {"ar"} and not teams[team.id].members

    async with sessions() as session:
        session.add(Agent(id="a1", tenant_id=TENANT, role="agent"))
        await session.commit()
    async with sessions() as session:
        await add_member(session, tenant_id=TENANT, team_id=team.id, agent_id="a1")
    async with sessions() as session:
        assert (await assignment.load_teams(session, tenant_id=TENANT))[team.id].members == {"a1"}


async def test_another_replicas_edit_shows_when_the_version_is_looked_at(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await sla.put_policy(
            session,
            tenant_id=TENANT,
            priority="high",
            first_response_s=60,
            resolution_s=600,
            business_hours=False,
        )
    assert (await targets(sessions))["high"].first_response_s == 60

    # Another replica's edit: the row and the version change, this process's cache is not told.
    async with sessions() as session:
        await session.execute(
            text("UPDATE sla_policy SET first_response_s = 30 WHERE tenant_id = :t"), {"t": TENANT}
        )
        await session.execute(
            text("UPDATE routing_version SET version = version + 1 WHERE tenant_id = :t"), {"t": TENANT}
        )
        await session.commit()
    assert (await targets(sessions))["high"].first_response_s == 60  # not looked at again yet

    TenantCache.set_refresh(0.0)
    assert (await targets(sessions))["high"].first_response_s == 30


async def test_an_edit_rolled_back_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await sla.put_policy(
            session,
            tenant_id=TENANT,
            priority="low",
            first_response_s=3600,
            resolution_s=None,
            business_hours=False,
        )
    before = await targets(sessions)
    async with sessions() as session:
        await session.execute(text("DELETE FROM sla_policy WHERE tenant_id = :t"), {"t": TENANT})
        await bump_version(session, TENANT)
        assert await sla.TARGETS_CACHE.get(session, TENANT) == {}  # the transaction sees its own edit
        await session.rollback()
    assert await targets(sessions) == before
