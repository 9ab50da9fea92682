"""What the event-layer tests share with the processes they crash: a stand-in table, its handler, helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from nats.js.errors import NotFoundError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from shared.events import contracts as c
from shared.events.bus import BatchHandler, Bus, EventScope
from shared.events.catalog import STREAMS
from shared.events.envelope import CloudEvent, Event, event_model, new_event

# A tenant.created event with one of these names makes `record` fail every time: after its write, in
# Python, or in the database (which leaves a PostgreSQL transaction unusable until rolled back).
POISON = "poison"
BAD_SQL = "bad sql"

P = TypeVar("P", bound=c.Contract)


class Applied(SQLModel, table=True):
    """A stand-in table for a service's state changed by an event."""

    __tablename__ = "test_applied"
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    event_id: str


def tenant_created(tenant_id: str = "t1", *, name: str = "Acme") -> CloudEvent:
    return new_event(c.TenantCreated(tenant_id=tenant_id, name=name), source="tests", tenant_id=tenant_id)


def tenant_event(tenant_id: str = "t1", *, name: str = "Acme") -> Event[c.TenantCreated]:
    """A tenant.created event as a consumer receives it (payload parsed), for tests that skip the broker."""
    return event_model(c.TenantCreated).model_validate_json(tenant_created(tenant_id, name=name).to_bytes())


async def record(session: AsyncSession, event: Event[c.TenantCreated]) -> None:
    """Apply an event: one Applied row, written out; then fail if the event is poisoned."""
    session.add(Applied(tenant_id=event.tenantid, event_id=event.id))
    await session.flush()
    if event.data.name == POISON:
        raise RuntimeError("poisoned event")
    if event.data.name == BAD_SQL:
        await session.execute(text("SELECT no_such_column FROM test_applied"))


async def applied(sessions: async_sessionmaker[AsyncSession], tenant_id: str) -> Counter[str]:
    """How many Applied rows each event of the tenant left."""
    async with sessions() as session:
        rows = await session.scalars(select(col(Applied.event_id)).where(col(Applied.tenant_id) == tenant_id))
        return Counter(rows)


def one_by_one(handler: Callable[[Event[P]], Awaitable[None]]) -> BatchHandler[P]:
    """A batch handler that runs `handler` on each event in turn; one failure does not stop the others."""

    async def apply(events: Sequence[Event[P]], scope: EventScope) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for event in events:
            try:
                with scope(event):
                    await handler(event)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    return apply


async def collect(
    bus: Bus,
    durable: str,
    event: type[P],
    n: int,
    *,
    handler: Callable[[Event[P]], Awaitable[None]] | None = None,
    backoff: tuple[float, ...] = (0.05, 0.05),
    timeout: float = 10,
) -> list[Event[P]]:
    """Consume with a new durable until `n` events were handled, plus a moment for unwanted duplicates."""
    seen: list[Event[P]] = []

    async def keep(received: Event[P]) -> None:
        if handler is not None:
            await handler(received)
        seen.append(received)

    task = asyncio.create_task(
        bus.consumer(durable=durable, event=event, batch_handler=one_by_one(keep), backoff=backoff).run()
    )
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(seen) < n and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for an unwanted duplicate to show up
    finally:
        task.cancel()
    return seen


async def delete_streams(bus: Bus) -> None:
    """Drop every Rapport stream (tests on a shared NATS server start from nothing)."""
    for name in STREAMS:
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_stream(name)


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
