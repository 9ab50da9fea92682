"""Idempotent consumption: the processed event id commits in the same transaction as its effects."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from shared.db import UTCDateTime, begin_immediate, utcnow
from shared.events.bus import EventScope
from shared.events.envelope import Envelope
from shared.telemetry import UNTRACED

log = logging.getLogger("rapport.inbox")

E = TypeVar("E", bound=Envelope)
# Applies one event in the caller's transaction.
TxHandler = Callable[[AsyncSession, E], Awaitable[None]]
# Applies a batch of events together (set-based) in the caller's transaction.
TxBatchHandler = Callable[[AsyncSession, Sequence[E]], Awaitable[None]]


class InboxMessage(SQLModel, table=True):
    """An event a consumer has already applied."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


async def first_time(session: AsyncSession, *, consumer: str, key: str) -> bool:
    """Record a natural key (not an event id) as applied by `consumer`, in the caller's transaction;
    False when it already was. For effects that two different events may carry (a request sent twice, a
    message announced twice): the key commits with the effects, and a replica that records it
    concurrently fails its commit on the primary key, so its batch is applied again and finds it."""
    if await session.get(InboxMessage, (consumer, key)) is not None:
        return False
    session.add(InboxMessage(consumer=consumer, event_id=key))
    await session.flush()
    return True


async def handle_once(
    sessions: async_sessionmaker[AsyncSession], *, consumer: str, event: E, handler: TxHandler[E]
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


class _HandlerFailed(Exception):
    """A handler raised in a batch applied without savepoints: the batch is undone and applied again."""


async def handle_batch_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer: str,
    events: Sequence[E],
    handler: TxHandler[E],
    scope: EventScope = UNTRACED,
) -> list[BaseException | None]:
    """Apply a batch in one transaction; per event, None (applied, now or before) or the error that failed it.

    An id already in the inbox, or repeated in the batch, is not run again. The batch first runs without
    savepoints (cheap, and almost every batch succeeds); if a handler fails, that transaction is rolled
    back and the batch runs again with a SAVEPOINT per event, so only the failing event is undone and the
    others commit. When the transaction itself fails (a busy database; a replica that applied one of these
    first, so the inbox insert conflicts), nothing of it stays and every event goes through `handle_once`
    on its own.
    """
    try:
        try:
            return await _apply_together(
                sessions, consumer=consumer, events=events, handler=handler, scope=scope, isolate=False
            )
        except _HandlerFailed:
            return await _apply_together(
                sessions, consumer=consumer, events=events, handler=handler, scope=scope, isolate=True
            )
    except Exception:
        log.warning("inbox.batch_failed", exc_info=True, extra={"consumer": consumer, "events": len(events)})
    outcomes: list[BaseException | None] = []
    for event in events:
        try:
            with scope(event):
                await handle_once(sessions, consumer=consumer, event=event, handler=handler)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


async def _apply_together(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer: str,
    events: Sequence[E],
    handler: TxHandler[E],
    scope: EventScope,
    isolate: bool,
) -> list[BaseException | None]:
    """One transaction for the batch; with `isolate`, a savepoint per event, else any failure undoes all."""
    outcomes: list[BaseException | None] = [None] * len(events)
    async with sessions() as session, session.begin():
        # A real transaction before the first SAVEPOINT (SQLite), holding the write lock from here.
        await begin_immediate(session)
        seen = set(
            await session.scalars(
                select(col(InboxMessage.event_id)).where(
                    col(InboxMessage.consumer) == consumer,
                    col(InboxMessage.event_id).in_({event.id for event in events}),
                )
            )
        )
        applied: list[str] = []
        for i, event in enumerate(events):
            if event.id in seen:
                continue
            # A twin later in the batch is acked as done: if this copy fails, this copy is retried.
            seen.add(event.id)
            if not isolate:
                try:
                    with scope(event):
                        await handler(session, event)
                except Exception as exc:
                    raise _HandlerFailed from exc
                applied.append(event.id)
                continue
            savepoint = await session.begin_nested()
            try:
                with scope(event):
                    await handler(session, event)
                    await savepoint.commit()
            except Exception as exc:
                # Undo this event only. Should that fail too, the transaction is lost: the error leaves
                # the batch, which then rolls back whole and is retried one event at a time.
                await savepoint.rollback()
                outcomes[i] = exc
            else:
                applied.append(event.id)
        if applied:
            # One multi-row INSERT, without building an ORM object per row.
            now = utcnow()
            await session.execute(
                insert(InboxMessage),
                [{"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in applied],
            )
    return outcomes


async def handle_set_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer: str,
    events: Sequence[E],
    handler: TxBatchHandler[E],
    scope: EventScope = UNTRACED,
) -> list[BaseException | None]:
    """Apply a batch with one call of a set-based `handler`, in one transaction with the inbox rows.

    The handler gets the events this consumer has not applied yet (ids already in the inbox, or repeated
    in the batch, are left out), in the batch's order. Should the transaction fail (a handler error, a
    busy database, a replica that applied one of these first), nothing of it stays and every event goes
    through `handle_once` on its own, as a batch of one: only a failing event fails.
    """
    try:
        async with sessions() as session, session.begin():
            await begin_immediate(session)
            ids = {event.id for event in events}
            seen = set(
                await session.scalars(
                    select(col(InboxMessage.event_id)).where(
                        col(InboxMessage.consumer) == consumer, col(InboxMessage.event_id).in_(ids)
                    )
                )
            )
            fresh: list[E] = []
            for event in events:
                if event.id not in seen:
                    seen.add(event.id)
                    fresh.append(event)
            if fresh:
                with scope.together(fresh):
                    await handler(session, fresh)
                now = utcnow()
                await session.execute(
                    insert(InboxMessage.__table__),  # type: ignore[attr-defined]
                    [{"consumer": consumer, "event_id": event.id, "processed_at": now} for event in fresh],
                )
        return [None] * len(events)
    except Exception:
        log.warning("inbox.batch_failed", exc_info=True, extra={"consumer": consumer, "events": len(events)})

    async def alone(session: AsyncSession, event: E) -> None:
        await handler(session, [event])

    outcomes: list[BaseException | None] = []
    for event in events:
        try:
            with scope(event):
                await handle_once(sessions, consumer=consumer, event=event, handler=alone)
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


async def handle_set(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer: str,
    events: Sequence[E],
    handler: TxBatchHandler[E],
    scope: EventScope = UNTRACED,
) -> list[BaseException | None]:
    """`handle_set_once` without inbox rows, for a handler idempotent by itself (its writes are keyed by
    the event, `ON CONFLICT DO NOTHING`): a redelivered event is simply applied again to no effect, and a
    batch that writes nothing writes nothing. Should the transaction fail, each event is retried alone, so
    only a failing event fails. On SQLite the transaction takes the write lock before the handler's first
    read (`begin_immediate`), as every consumer's does: a handler that decides from what it reads (the
    metrics folds read the erased profile ids, then write) must not have another writer commit in between.
    """
    try:
        async with sessions() as session, session.begin():
            await begin_immediate(session)
            with scope.together(events):
                await handler(session, list(events))
        return [None] * len(events)
    except Exception:
        log.warning("inbox.batch_failed", exc_info=True, extra={"consumer": consumer, "events": len(events)})
    outcomes: list[BaseException | None] = []
    for event in events:
        try:
            with scope(event):
                async with sessions() as session, session.begin():
                    await begin_immediate(session)
                    await handler(session, [event])
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes
