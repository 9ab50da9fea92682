"""What the event-layer tests share with the processes they crash: a stand-in table, its handler, helpers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from shared.events import contracts as c
from shared.events.bus import Bus, delete_streams
from shared.events.envelope import CloudEvent, new_event

# A tenant.created event with one of these names makes `record` fail every time: after its write, in
# Python, or in the database (which leaves a PostgreSQL transaction unusable until rolled back).
POISON = "poison"
BAD_SQL = "bad sql"


class Applied(SQLModel, table=True):
    """A stand-in table for a service's state changed by an event."""

    __tablename__ = "test_applied"
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    event_id: str


def tenant_created(tenant_id: str = "t1", *, name: str = "Acme") -> CloudEvent:
    return new_event(
        type="identity.tenant.created",
        source="tests",
        tenant_id=tenant_id,
        data=c.TenantCreated(tenant_id=tenant_id, name=name),
    )


async def record(session: AsyncSession, event: CloudEvent) -> None:
    """Apply an event: one Applied row, written out; then fail if the event is poisoned."""
    session.add(Applied(tenant_id=event.tenantid, event_id=event.id))
    await session.flush()
    if event.data.get("name") == POISON:
        raise RuntimeError("poisoned event")
    if event.data.get("name") == BAD_SQL:
        await session.execute(text("SELECT no_such_column FROM test_applied"))


async def applied(sessions: async_sessionmaker[AsyncSession], tenant_id: str) -> Counter[str]:
    """How many Applied rows each event of the tenant left."""
    async with sessions() as session:
        rows = await session.scalars(select(col(Applied.event_id)).where(col(Applied.tenant_id) == tenant_id))
        return Counter(rows)


async def collect(
    bus: Bus,
    durable: str,
    event_type: str,
    n: int,
    *,
    handler: Callable[[CloudEvent], Awaitable[None]] | None = None,
    backoff: tuple[float, ...] = (0.05, 0.05),
    timeout: float = 10,
) -> list[CloudEvent]:
    """Consume with a new durable until `n` events were handled, plus a moment for unwanted duplicates."""
    seen: list[CloudEvent] = []

    async def keep(event: CloudEvent) -> None:
        if handler is not None:
            await handler(event)
        seen.append(event)

    task = asyncio.create_task(
        bus.consumer(durable=durable, event_type=event_type, handler=keep, backoff=backoff).run()
    )
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(seen) < n and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for an unwanted duplicate to show up
    finally:
        task.cancel()
    return seen


async def empty_bus(nats_url: str) -> Bus:
    """A connected bus whose streams were just emptied: what a test consumes is what it published."""
    bus = Bus(nats_url, name="test")
    await bus.connect()
    await delete_streams(bus)
    await bus.ensure_streams()
    return bus


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float = 15, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
