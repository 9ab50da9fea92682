"""Transactional outbox: the event row commits with the state change; a relay publishes it after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js.api import PubAck
from sqlalchemy import BigInteger, Column, Integer, Row, Text, delete, event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
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

    # The order rows were staged in, the order the relay publishes them in (a batch staged together
    # shares its `created_at`; its sequence numbers do not). SQLite's rowid, no index of its own; a
    # BIGSERIAL on PostgreSQL, where a transaction's rows leave in the order it staged them and, of two
    # transactions committing at once, whichever had committed when the relay looked leaves first.
    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    id: str = Field(unique=True, index=True)
    tenant_id: str = Field(index=True)
    type: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    headers: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# Where a session keeps the rows `stage` has not written yet (its `info`: a `_Staged`).
_STAGED = "rapport.outbox.staged"


def _row(event_: CloudEvent, headers: str, now: datetime) -> dict[str, object]:
    return {
        "id": event_.id,
        "tenant_id": event_.tenantid,
        "type": event_.type,
        "body": event_.model_dump_json(exclude_none=True),
        "headers": headers,
        "created_at": now,
        "published_at": None,
    }


def stage(session: AsyncSession, event_: CloudEvent) -> None:
    """Add an event to the outbox in the caller's transaction.

    The row is written with one Core INSERT together with the rows staged after it (an ORM object per
    row cost a unit-of-work flush and, with the sequence as the key, a RETURNING each): before the next
    ORM statement of the session (where an autoflush would have written it, so a query sees it), before
    `stage_many` writes its own (they keep their order), and at the latest when the transaction or the
    savepoint it was staged in commits. A rolled-back transaction or savepoint takes the rows it staged
    with it, and gives back those staged before it that it had written (`_Staged`).
    """
    sync = session.sync_session
    staged = sync.info.get(_STAGED)
    if not isinstance(staged, _Staged):
        staged = sync.info[_STAGED] = _Staged()
    row = _row(event_, json.dumps(inject_headers({})), utcnow())
    staged.pending.append((sync.get_nested_transaction(), row))
    STAGED.mark(session)


# A staged row with the savepoint it was staged in (None: outside any).
_Tagged = tuple[SessionTransaction | None, dict[str, object]]


@dataclass
class _Staged:
    """A session's staged rows: those not written yet, each with the savepoint that staged it, and per
    open savepoint the rows staged before it that were written inside it (a rollback of the savepoint
    undoes their INSERT, so they wait again)."""

    pending: list[_Tagged] = field(default_factory=list)
    written_in: dict[SessionTransaction, list[_Tagged]] = field(default_factory=dict)

    def take(self, session: Session) -> list[dict[str, object]]:
        """The pending rows, in order, now to be written in the session's current transaction."""
        savepoint = session.get_nested_transaction()
        if savepoint is not None:
            earlier = [(tag, row) for tag, row in self.pending if tag is not savepoint]
            if earlier:
                self.written_in.setdefault(savepoint, []).extend(earlier)
        rows = [row for _, row in self.pending]
        self.pending.clear()
        return rows

    def released(self, savepoint: SessionTransaction) -> None:
        """The savepoint was released (its pending rows were written at its commit): the rows staged
        before it that it wrote are now part of the enclosing savepoint, whose rollback undoes them too."""
        earlier = self.written_in.pop(savepoint, None)
        parent = savepoint.parent
        if earlier and parent is not None and parent.nested:
            kept = [(tag, row) for tag, row in earlier if tag is not parent]
            if kept:
                self.written_in.setdefault(parent, []).extend(kept)

    def ended(self, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            # The whole transaction ended: what still waits was not committed.
            self.pending.clear()
            self.written_in.clear()
        elif transaction.nested:
            # Rolled back (a released one left nothing here): its own rows are gone; those staged before
            # it that it wrote wait again, first (they were staged before anything still waiting).
            earlier = self.written_in.pop(transaction, [])
            self.pending[:] = [*earlier, *((tag, row) for tag, row in self.pending if tag is not transaction)]


# Listeners of every session (a per-session `event.listen` cost more than staging one event); each
# returns at once for a session that staged nothing. An ORM statement writes the rows first, as an
# autoflush would write ORM objects, so a query (an erasure's delete of outbox rows too) sees them.
@event.listens_for(Session, "do_orm_execute")
def _before_orm_statement(state: ORMExecuteState) -> None:
    staged = state.session.info.get(_STAGED)
    if staged is not None and staged.pending:
        state.session.execute(insert(OUTBOX), staged.take(state.session))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    staged = session.info.get(_STAGED)
    if staged is not None and staged.pending:
        session.execute(insert(OUTBOX), staged.take(session))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    staged = session.info.get(_STAGED)
    if staged is not None:
        savepoint = session.get_nested_transaction()  # still the current one when it is released
        if savepoint is not None:
            staged.released(savepoint)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    staged = session.info.get(_STAGED)
    if staged is not None:
        staged.ended(transaction)


def _take_staged(session: AsyncSession) -> list[dict[str, object]]:
    staged = session.sync_session.info.get(_STAGED)
    return staged.take(session.sync_session) if staged is not None and staged.pending else []


async def stage_many(
    session: AsyncSession,
    events: Sequence[CloudEvent],
    *,
    traces: Mapping[str, dict[str, str]] | None = None,
) -> None:
    """Add events to the outbox in the caller's transaction with one multi-row INSERT (no ORM objects),
    after any `stage`d before them.

    Each row keeps the current span's trace headers, or its own from `traces` (by event id: a set-based
    consumer's onward events, each in the trace of the event that caused it, `shared.telemetry.carried`)."""
    if not events:
        return
    headers = json.dumps(inject_headers({}))
    now = utcnow()
    # The table, not the model: a Core executemany, not the ORM's bulk insert (a few ms per call more).
    await session.execute(
        insert(OUTBOX),
        [
            *_take_staged(session),
            *(
                _row(e, json.dumps(traces[e.id]) if traces and e.id in traces else headers, now)
                for e in events
            ),
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
                        col(OutboxMessage.seq),
                        col(OutboxMessage.id),
                        col(OutboxMessage.type),
                        col(OutboxMessage.body),
                        col(OutboxMessage.headers),
                    )
                    .where(col(OutboxMessage.published_at).is_(None))
                    .order_by(col(OutboxMessage.seq))
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
                # By id, not by sequence: on SQLite the read above holds no transaction, and a row
                # deleted meanwhile (an erasure drops the person's rows) may have handed its sequence
                # number to a row staged after it, which a mark by sequence would never publish.
                await session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(acked))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
            return len(acked)

    async def _publish(self, rows: Sequence[Row[int | None, str, str, str, str]]) -> list[str]:
        """Publish the rows in order without waiting in between; the ids whose publish was acknowledged."""
        # A batch staged together shares its trace headers: each distinct text parsed once.
        parsed: dict[str, dict[str, str]] = {}
        messages: list[tuple[str, bytes, dict[str, str]]] = []
        for _, id_, type_, body, headers in rows:
            carried = parsed.get(headers)
            if carried is None:
                carried = parsed[headers] = json.loads(headers)
            messages.append((type_, body.encode(), {**carried, "Nats-Msg-Id": id_}))
        results = await self.bus.publish_many(messages, ack_wait_s=self.ack_timeout_s)
        acked: list[str] = []
        stored: list[str] = []
        failed: list[str] = []
        for (_, id_, type_, *_), result in zip(rows, results, strict=True):
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
