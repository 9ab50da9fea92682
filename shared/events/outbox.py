"""Transactional outbox: the event row commits with the state change; a relay publishes it after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import Column, Text, delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col

from shared.db import UTCDateTime, utcnow
from shared.events.bus import Bus
from shared.events.envelope import CloudEvent
from shared.telemetry import inject_headers

log = logging.getLogger("rapport.outbox")

_STAGED = "rapport_outbox_staged"
_wakers: list[asyncio.Event] = []


class OutboxMessage(SQLModel, table=True):
    """An event waiting to be published (or published, until it is pruned)."""

    __tablename__ = "outbox"

    id: str = Field(primary_key=True)
    tenant_id: str = Field(index=True)
    type: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    headers: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


def stage(session: AsyncSession, event_: CloudEvent) -> None:
    """Add an event to the outbox in the caller's transaction."""
    session.add(
        OutboxMessage(
            id=event_.id,
            tenant_id=event_.tenantid,
            type=event_.type,
            body=event_.model_dump_json(exclude_none=True),
            headers=json.dumps(inject_headers({})),
        )
    )
    session.sync_session.info[_STAGED] = True


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    # A commit that staged events wakes the relay at once instead of waiting for its next poll.
    if session.info.pop(_STAGED, False):
        for waker in _wakers:
            waker.set()


class OutboxRelay:
    """Publishes committed outbox rows in order, with acknowledged, de-duplicated JetStream publishes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        batch: int = 500,
        poll_s: float = 1.0,
        keep: timedelta = timedelta(hours=1),
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.batch = batch
        self.poll_s = poll_s
        self.keep = keep
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Relay until cancelled; survives broker outages by retrying."""
        _wakers.append(self._wake)
        try:
            rounds = 0
            while True:
                self._wake.clear()
                try:
                    sent = await self.flush()
                except Exception:
                    log.warning("outbox.flush_failed", exc_info=True)
                    sent = 0
                    await asyncio.sleep(self.poll_s)
                rounds += 1
                if rounds % 600 == 0:
                    await self.prune()
                if sent < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
        finally:
            _wakers.remove(self._wake)

    async def flush(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        async with self.sessions() as session, session.begin():
            rows = (
                (
                    await session.execute(
                        select(OutboxMessage)
                        .where(col(OutboxMessage.published_at).is_(None))
                        .order_by(col(OutboxMessage.created_at))
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return 0
            futures = [
                await self.bus.js.publish_async(
                    row.type, row.body.encode(), headers={**json.loads(row.headers), "Nats-Msg-Id": row.id}
                )
                for row in rows
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            now = utcnow()
            sent = 0
            for row, result in zip(rows, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning("outbox.publish_failed", extra={"event_id": row.id, "error": repr(result)})
                    continue
                row.published_at = now
                sent += 1
            return sent

    async def prune(self) -> None:
        """Drop rows published long ago (past the broker's de-duplication window)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(OutboxMessage).where(col(OutboxMessage.published_at) < utcnow() - self.keep)
            )

    async def pending(self) -> int:
        """How many rows wait to be published."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.published_at).is_(None))
            )
            return int(count or 0)
