"""The outbox keeps the order events were staged in, through the relay to the stream, and stages nothing
that its transaction or savepoint did not commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.db import create_engine, session_factory, transaction
from shared.events.bus import Bus
from shared.events.contracts import TenantCreated
from shared.events.outbox import OutboxMessage, OutboxRelay, stage, stage_many
from tests.helpers import create_tables
from tests.shared.stand_ins import Applied, collect, empty_bus, tenant_created

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    await create_tables(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def ids_in(session: AsyncSession) -> list[str]:
    """The outbox's event ids as the session sees them, in the order the relay takes them."""
    rows = await session.execute(select(col(OutboxMessage.id)).order_by(col(OutboxMessage.seq)))
    return list(rows.scalars())


async def staged_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """The outbox's committed event ids in the order the relay takes them."""
    async with sessions() as session:
        return await ids_in(session)


async def test_relay_publishes_in_the_order_events_were_staged_one_by_one_and_together(
    nats_url: str, database_url: str
) -> None:
    """`stage` and `stage_many` mixed in one transaction, then another transaction: the stream holds
    them in staging order (a batch staged together shares its timestamp; its order must still hold)."""
    tenant = uuid.uuid4().hex
    first = [tenant_created(tenant, name=f"a{i}") for i in range(3)]
    together = [tenant_created(tenant, name=f"b{i}") for i in range(40)]
    after = [tenant_created(tenant, name=f"c{i}") for i in range(2)]
    later = [tenant_created(tenant, name=f"d{i}") for i in range(30)]
    async with database(database_url) as sessions:
        async with transaction(sessions) as session:
            for event in first:
                stage(session, event)
            await stage_many(session, together)
            for event in after:
                stage(session, event)
        async with transaction(sessions) as session:
            await stage_many(session, later[:10])
            for event in later[10:]:
                stage(session, event)
        order = [e.id for e in [*first, *together, *after, *later]]
        assert await staged_ids(sessions) == order

        bus: Bus = await empty_bus(nats_url)
        try:
            relay = OutboxRelay(sessions, bus, batch=16)
            while await relay.flush():
                pass
            assert await relay.pending() == 0
            got = await collect(bus, f"order-{tenant[:8]}", TenantCreated, len(order))
        finally:
            await bus.close()
    assert [e.id for e in got] == order


async def test_staged_rows_are_seen_by_a_query_in_their_transaction_and_gone_with_its_rollback(
    database_url: str,
) -> None:
    tenant = uuid.uuid4().hex
    kept, dropped = tenant_created(tenant), tenant_created(tenant)
    async with database(database_url) as sessions:
        async with transaction(sessions) as session:
            stage(session, kept)
        with pytest.raises(RuntimeError):
            async with transaction(sessions) as session:
                stage(session, dropped)
                # An ORM statement writes what was staged before it, as an autoflush would.
                assert dropped.id in await ids_in(session)
                raise RuntimeError("the transaction fails")
        async with sessions() as session:
            # A session that staged and closed without committing leaves nothing either.
            stage(session, tenant_created(tenant))
        assert await staged_ids(sessions) == [kept.id]


async def test_a_savepoint_rolled_back_takes_only_its_own_staged_rows(database_url: str) -> None:
    """Rows staged before a savepoint and written inside it (by a query there) survive its rollback, in
    their place; rows staged inside it go with it; a released savepoint keeps its rows."""
    tenant = uuid.uuid4().hex
    before, inside, released, nested_out, last = (tenant_created(tenant, name=n) for n in "abcde")
    async with database(database_url) as sessions:
        async with transaction(sessions) as session:
            stage(session, before)
            savepoint = await session.begin_nested()
            session.add(Applied(tenant_id=tenant, event_id="x"))
            stage(session, inside)
            assert await ids_in(session) == [before.id, inside.id]
            await savepoint.rollback()
            assert await ids_in(session) == [before.id]

            async with session.begin_nested():
                stage(session, released)
                inner = await session.begin_nested()
                stage(session, nested_out)
                await ids_in(session)
                await inner.rollback()
            stage(session, last)
        assert await staged_ids(sessions) == [before.id, released.id, last.id]

        # Staged in the enclosing savepoint, written in an inner one that was released, then the enclosing
        # one rolls back: gone; what the whole transaction staged before them stays.
        first, doomed = tenant_created(tenant, name="f"), tenant_created(tenant, name="g")
        async with transaction(sessions) as session:
            stage(session, first)
            outer = await session.begin_nested()
            stage(session, doomed)
            async with session.begin_nested():
                await ids_in(session)
            await outer.rollback()
        assert await staged_ids(sessions) == [before.id, released.id, last.id, first.id]


async def test_a_row_deleted_while_the_relay_publishes_it_does_not_swallow_the_row_staged_after_it(
    nats_url: str, tmp_path: Path
) -> None:
    """An erasure deletes the person's outbox rows, one the relay is publishing at that moment among
    them, and stages its answer in the same transaction. On SQLite the answer takes the deleted row's
    sequence number (the largest rowid, reused), and the relay's read holds no transaction: the relay
    marks what it published by id, so the answer stays pending and leaves next round. (On PostgreSQL the
    relay's read locks its rows: the erasure waits for it.)"""
    tenant = uuid.uuid4().hex
    named, answer = tenant_created(tenant, name="named"), tenant_created(tenant, name="answer")
    async with database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}") as sessions:
        async with transaction(sessions) as session:
            stage(session, named)

        class Racing(OutboxRelay):
            async def _publish(self, rows: Sequence[Any]) -> list[str]:
                acked = await super()._publish(rows)
                if any(row[1] == named.id for row in rows):
                    async with transaction(sessions) as session:
                        await session.execute(delete(OutboxMessage).where(col(OutboxMessage.id) == named.id))
                        stage(session, answer)
                return acked

        bus: Bus = await empty_bus(nats_url)
        try:
            relay = Racing(sessions, bus)
            assert await relay.flush() == 1
            assert await staged_ids(sessions) == [answer.id]
            assert await relay.pending() == 1, "the answer was marked published without being published"
            assert await relay.flush() == 1
            got = await collect(bus, f"race-{tenant[:8]}", TenantCreated, 2)
        finally:
            await bus.close()
    assert [e.id for e in got] == [named.id, answer.id]
