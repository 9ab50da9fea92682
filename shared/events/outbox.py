"""Transactional outbox: the event row commits with the state change; a relay publishes it after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from nats.js.api import PubAck
from sqlalchemy import Column, Row, Text, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from shared.db import UTCDateTime, utcnow
from shared.events.bus import Bus
from shared.events.envelope import CloudEvent
from shared.telemetry import inject_headers
from shared.wakeups import CommitWake

log = logging.getLogger("rapport.outbox")

# Commits that staged events wake their own factory's relays at once (`shared/wakeups.py`).
STAGED = CommitWake("rapport.outbox")
# How often an idle relay looks for rows anyway: those of a replica that died before relaying them (its
# own commits wake it at once). Each look is a transaction: once a second cost every idle service ~1-2
# ms of CPU per second.
RELAY_POLL_S = 10.0


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
    STAGED.mark(session)


async def stage_many(
    session: AsyncSession,
    events: Sequence[CloudEvent],
    *,
    traces: Mapping[str, dict[str, str]] | None = None,
) -> None:
    """Add events to the outbox in the caller's transaction with one multi-row INSERT (no ORM objects).

    Each row keeps the current span's trace headers, or its own from `traces` (by event id: a set-based
    consumer's onward events, each in the trace of the event that caused it, `shared.telemetry.carried`)."""
    if not events:
        return
    headers = json.dumps(inject_headers({}))
    now = utcnow()
    # The table, not the model: a Core executemany, not the ORM's bulk insert (a few ms per call more).
    await session.execute(
        insert(OutboxMessage.__table__),  # type: ignore[attr-defined]
        [
            {
                "id": e.id,
                "tenant_id": e.tenantid,
                "type": e.type,
                "body": e.model_dump_json(exclude_none=True),
                "headers": json.dumps(traces[e.id]) if traces and e.id in traces else headers,
                "created_at": now,
                "published_at": None,
            }
            for e in events
        ],
    )
    STAGED.mark(session)


class OutboxRelay:
    """Publishes committed outbox rows in order, with acknowledged, de-duplicated JetStream publishes.

    A batch goes out with every publish in flight at once (JetStream async publish) and its rows are
    marked published after their acks, in the transaction that read them. A relay that dies between the
    two publishes them again next time under the same `Nats-Msg-Id`, which the stream drops as duplicates.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        batch: int = 500,
        poll_s: float = RELAY_POLL_S,
        retry_s: float = 1.0,
        keep: timedelta = timedelta(hours=1),
        ack_timeout_s: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        # Also the most publishes awaiting their acks at once.
        self.batch = batch
        self.ack_timeout_s = ack_timeout_s
        # The look for rows no commit of this process announced (another replica's, left pending by a
        # process that died); a commit here wakes the relay at once (`STAGED`).
        self.poll_s = poll_s
        # The wait before trying again after a failed round or unacknowledged publishes.
        self.retry_s = retry_s
        self._unacked = False
        self.keep = keep
        self._wake = STAGED.of(sessions)

    async def run(self) -> None:
        """Relay until cancelled; survives broker outages by retrying."""
        rounds = 0
        while True:
            self._wake.clear()
            try:
                sent = await self.flush()
                idle = self.retry_s if self._unacked else self.poll_s
            except Exception:
                log.warning("outbox.flush_failed", exc_info=True)
                sent = 0
                await asyncio.sleep(self.retry_s)
                idle = self.retry_s
            rounds += 1
            if rounds % 600 == 0:
                await self.prune()
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)

    async def flush(self) -> int:
        """Publish one batch of pending rows; return how many the stream acknowledged."""
        async with self.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        col(OutboxMessage.id),
                        col(OutboxMessage.type),
                        col(OutboxMessage.body),
                        col(OutboxMessage.headers),
                    )
                    .where(col(OutboxMessage.published_at).is_(None))
                    .order_by(col(OutboxMessage.created_at))
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                self._unacked = False
                return 0
            acked = await self._publish(rows)
            self._unacked = len(acked) < len(rows)
            if acked:
                await session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(acked))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
            return len(acked)

    async def _publish(self, rows: Sequence[Row[str, str, str, str]]) -> list[str]:
        """Publish the rows in order without waiting in between; the ids whose publish was acknowledged."""
        results = await self.bus.publish_many(
            [
                (type_, body.encode(), {**json.loads(headers), "Nats-Msg-Id": id_})
                for id_, type_, body, headers in rows
            ],
            ack_wait_s=self.ack_timeout_s,
        )
        acked: list[str] = []
        stored: list[str] = []
        failed: list[str] = []
        for (id_, type_, *_), result in zip(rows, results, strict=True):
            if not isinstance(result, PubAck):
                failed.append(id_)
                continue
            acked.append(id_)
            if not result.duplicate:
                stored.append(type_)  # an event's type is its subject
        self.bus.metrics.events_published(stored)
        if failed:
            # Left pending, published again next round under the same id (dropped if it did arrive).
            log.warning("outbox.publish_unacknowledged", extra={"event_id": failed[0], "count": len(failed)})
        return acked

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
