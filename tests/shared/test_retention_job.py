"""The retention job's lease (shared/retention.py): one replica at a time sweeps a tenant, a policy that
arrives mid-sweep makes the tenant due again at once, and a lease that ran out lets another replica in.
Two jobs on two engines over one database stand for two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.listening.tenant_privacy.models import ListeningRetention
from shared.db import create_engine, session_factory
from shared.events.contracts import PrivacyPolicyChanged
from shared.retention import RetentionJob, Step, apply_policy
from tests.helpers import create_tables

pytestmark = pytest.mark.anyio


class Gate:
    """A step that records the tenants it swept and, while closed, holds the sweep mid-way."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()
        self.swept: list[str] = []

    async def run(self, session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
        self.entered.set()
        await self.open.wait()
        self.swept.append(tenant_id)
        return 0


@asynccontextmanager
async def replicas(url: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], ...]]:
    first, second = create_engine(url), create_engine(url)
    await create_tables(first)
    try:
        yield session_factory(first), session_factory(second)
    finally:
        await first.dispose()
        await second.dispose()


def job(sessions: async_sessionmaker[AsyncSession], gate: Gate, lease_s: float = 300.0) -> RetentionJob:
    return RetentionJob(
        sessions,
        model=ListeningRetention,
        steps=[Step("gate", gate.run)],
        interval_s=3600,
        batch=10,
        lease_s=lease_s,
    )


async def set_policy(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, days: int | None, at: datetime
) -> bool:
    policy = PrivacyPolicyChanged(bases={}, retention_days=days, changed_at=at)
    async with sessions() as session:
        applied = await apply_policy(session, ListeningRetention, tenant_id=tenant_id, policy=policy)
        await session.commit()
    return applied


async def test_one_replica_at_a_time_sweeps_a_tenant_and_a_policy_mid_sweep_makes_it_due_again(
    database_url: str,
) -> None:
    async with replicas(database_url) as (one, two):
        now = datetime.now(UTC)
        await set_policy(one, "t1", 30, now)
        first, second = Gate(), Gate()
        second.open.set()
        sweeping = asyncio.create_task(job(one, first).run_once())
        await first.entered.wait()
        # The tenant is leased: the other replica finds nothing due.
        assert await job(two, second).run_once() == 0
        # A new period arrives mid-sweep; a policy older than it, delivered late, changes nothing.
        assert await set_policy(two, "t1", 7, now + timedelta(seconds=1))
        assert not await set_policy(two, "t1", None, now)
        first.open.set()
        assert await sweeping == 1
        # The new period is due at once, whichever replica looks.
        assert await job(two, second).run_once() == 1
        assert (first.swept, second.swept) == (["t1"], ["t1"])
        # Swept: due again only after the interval.
        assert await job(one, first).run_once() == 0


async def test_a_lease_that_ran_out_lets_another_replica_sweep(database_url: str) -> None:
    async with replicas(database_url) as (one, two):
        await set_policy(one, "t2", 30, datetime.now(UTC))
        await set_policy(one, "t3", None, datetime.now(UTC))  # keeps everything: never swept
        stuck, other = Gate(), Gate()
        other.open.set()
        hung = asyncio.create_task(job(one, stuck, lease_s=0.0).run_once())
        await stuck.entered.wait()
        assert await job(two, other).run_once() == 1
        assert other.swept == ["t2"]
        assert await job(two, other).run_once() == 0
        hung.cancel()
