"""Idempotent consumption: the processed event id commits in the same transaction as its effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.events.envelope import CloudEvent

TxHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


class InboxMessage(SQLModel, table=True):
    """An event a consumer has already applied."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


async def handle_once(
    sessions: async_sessionmaker[AsyncSession], *, consumer: str, event: CloudEvent, handler: TxHandler
) -> bool:
    """Run `handler` in one transaction unless this consumer already applied the event."""
    try:
        async with sessions() as session, session.begin():
            if await session.get(InboxMessage, (consumer, event.id)) is not None:
                return False
            session.add(InboxMessage(consumer=consumer, event_id=event.id))
            await session.flush()
            await handler(session, event)
        return True
    except IntegrityError:
        # A concurrent replica applied it first: that is a duplicate, not a failure.
        async with sessions() as session:
            if await session.get(InboxMessage, (consumer, event.id)) is not None:
                return False
        raise
