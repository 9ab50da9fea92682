"""Snapshots of the fact tables, and rebuilding the tables from a snapshot and the streams.

What metrics keeps is a fold of the events, and the streams keep events for `stream_max_age_days` only
(less where an erasure deleted some). So the fact tables are copied now and then (`take_snapshot`: daily
by default, and soon after each erasure, `SnapshotJob`), each copy with a watermark per consumer: the
stream sequence up to which every event had been folded into the rows copied. A rebuild
(`rebuild`) clears the fact tables, restores the latest copy, folds every event each stream still holds
after its watermark through the live consumers' own batch handlers, and re-applies every recorded
erasure; in one transaction, so a failure leaves the tables as they were.

The watermark is the durable consumer's ack floor, read *before* the rows are copied: an event is acked
only after its fold commits, so every event up to the floor is in the copy. Events after the floor may
be in it too (folded, not yet acked); folding them again changes nothing (every fold is idempotent and
order-tolerant, `logic/facts.py`), and neither does a late or duplicated event in the stream.

Why a snapshot after each erasure: the erasure deletes the person's events from the streams
(`shared.privacy.scrub_streams`) while the facts keep their anonymised counts; a copy taken after it
keeps those counts for a rebuild. A snapshot row naming an erased profile id is rewritten with the random
id (`privacy.erase_person`), like the fact rows, so no copy keeps an erased id.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import LargeBinary, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.metrics import privacy
from services.metrics.consumers import SUBSCRIPTIONS
from services.metrics.logic import rollups, summaries
from services.metrics.models import (
    AlertFact,
    ConversationFact,
    ErasedProfile,
    MentionCount,
    MentionFact,
    MentionHashtagFact,
    MentionQueryFact,
    MetricsSnapshot,
    MetricsSnapshotRow,
    OrderFact,
    ProfileFact,
    SurveyFact,
)
from shared.db import UTCDateTime, begin_immediate, utcnow
from shared.events.catalog import stream_of
from shared.events.contracts import Contract
from shared.events.envelope import Event, event_model
from shared.ids import uuid4_str

log = logging.getLogger("rapport.metrics.snapshots")

# Every table folded from events, parents first (restored in this order, cleared in the reverse).
FACT_TABLES: tuple[Table, ...] = (
    tuple(
        m.__table__  # type: ignore[union-attr]
        for m in (
            MentionFact,
            MentionQueryFact,
            MentionHashtagFact,
            MentionCount,
            AlertFact,
            ConversationFact,
            SurveyFact,
            ProfileFact,
            OrderFact,
        )
    )
    + summaries.TABLES
)
# What a snapshot keeps: the folded rows. Not the mention counts: a rebuild computes them from the
# restored mention rows (`rollups.backfill`), so a snapshot of any age (one from before the counts, or
# before they counted topics and hashtags) gives the counts its rows call for.
COPIED: tuple[Table, ...] = tuple(t for t in FACT_TABLES if t.name != MentionCount.__tablename__)
_SNAPSHOT: Table = MetricsSnapshot.__table__  # type: ignore[attr-defined]
_ROW: Table = MetricsSnapshotRow.__table__  # type: ignore[attr-defined]
_ERASED: Table = ErasedProfile.__table__  # type: ignore[attr-defined]
# The consumers that fold events into the fact tables (the privacy consumers do not: their effect is the
# erased-id record, which a rebuild keeps and re-applies).
FOLDING = tuple(s for s in SUBSCRIPTIONS if s.batch_handler is not None and not s.inbox)
# Rows copied or restored per statement; events folded per batch in a rebuild.
COPY_BATCH = 500
REPLAY_BATCH = 256

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    return None


class RebuildRefused(Exception):
    """A rebuild that would not reproduce what metrics holds (say why)."""


# --- taking a snapshot ------------------------------------------------------------------------------


async def watermarks(js: JetStreamContext) -> dict[str, int]:
    """Per folding consumer, the stream sequence up to which every event has been folded (its ack floor;
    0 when the consumer does not exist yet)."""
    marks: dict[str, int] = {}
    for sub in FOLDING:
        assert sub.subject is not None
        try:
            info = await js.consumer_info(stream_of(sub.subject), sub.durable)
        except NotFoundError:
            marks[sub.durable] = 0
            continue
        marks[sub.durable] = int(info.ack_floor.stream_seq) if info.ack_floor else 0
    return marks


def _dump(table: Table, row: Any) -> str:
    values = {}
    for column in table.columns:
        value = getattr(row, column.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        values[column.name] = value
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


def _load_row(table: Table, data: str) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(data)
    for column in table.columns:
        value = values.get(column.name)
        if isinstance(column.type, UTCDateTime) and isinstance(value, str):
            values[column.name] = datetime.fromisoformat(value)
        elif isinstance(column.type, LargeBinary) and isinstance(value, str):
            values[column.name] = base64.b64decode(value)
    return values


async def _erased_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(_ERASED)) or 0)


async def take_snapshot(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, *, progress: Progress = _quiet
) -> MetricsSnapshot:
    """Copy the fact tables with each consumer's watermark, then drop the older snapshots."""
    marks = await watermarks(js)  # before the copy: every event up to these is in what is copied
    snapshot_id, position = uuid4_str(), 0
    async with sessions() as session, session.begin():
        # One transaction: the rows come from one consistent state (on SQLite, holding the write lock
        # meanwhile; the consumers wait for it, or retry their batch; on PostgreSQL, repeatable read), and
        # the count of erasures is of that same state: one committed during the copy calls for another.
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await begin_immediate(session)
        for table in COPIED:
            copied = 0
            result = await session.stream(select(table))
            async for chunk in result.partitions(COPY_BATCH):
                rows = [
                    {
                        "snapshot_id": snapshot_id,
                        "position": position + i,
                        "table_name": table.name,
                        "tenant_id": row.tenant_id,
                        "data": _dump(table, row),
                    }
                    for i, row in enumerate(chunk)
                ]
                position += len(rows)
                copied += len(rows)
                await session.execute(_ROW.insert(), rows)
            progress(f"{table.name}: {copied} rows copied")
        snapshot = MetricsSnapshot(
            snapshot_id=snapshot_id,
            taken_at=utcnow(),
            watermarks=marks,
            erased_count=await _erased_count(session),
            row_count=position,
        )
        session.add(snapshot)
        await session.flush()
        await session.execute(delete(_ROW).where(_ROW.c.snapshot_id != snapshot_id))
        await session.execute(delete(_SNAPSHOT).where(_SNAPSHOT.c.snapshot_id != snapshot_id))
    log.info("metrics.snapshot_taken", extra={"rows": position, "watermarks": marks})
    return snapshot


async def latest_snapshot(session: AsyncSession) -> MetricsSnapshot | None:
    """The snapshot a rebuild starts from, if any."""
    found: MetricsSnapshot | None = (
        await session.scalars(select(MetricsSnapshot).order_by(MetricsSnapshot.taken_at.desc()).limit(1))  # type: ignore[attr-defined]
    ).first()
    return found


async def snapshot_due(session: AsyncSession, *, interval: timedelta) -> bool:
    """Whether a snapshot is due: none yet, the latest older than `interval`, or an erasure since."""
    latest = await latest_snapshot(session)
    if latest is None:
        return True
    if utcnow() - latest.taken_at >= interval:
        return True
    return await _erased_count(session) != latest.erased_count


@dataclass
class SnapshotJob:
    """The metrics app's periodic snapshot (every replica runs it; one that finds a fresh snapshot
    does nothing)."""

    sessions: async_sessionmaker[AsyncSession]
    js: Callable[[], JetStreamContext]
    interval: timedelta
    poll_s: float

    async def run(self) -> None:
        """Check every `poll_s`, take a snapshot when one is due; never stop on an error."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                async with self.sessions() as session:
                    due = await snapshot_due(session, interval=self.interval)
                if due:
                    await take_snapshot(self.sessions, self.js())
            except Exception:
                log.exception("metrics.snapshot_failed")


# --- rebuilding -------------------------------------------------------------------------------------


@dataclass
class StreamReplay:
    """What a rebuild folded from one consumer's stream."""

    durable: str
    stream: str
    start_seq: int
    last_seq: int = 0
    events: int = 0
    oldest_at: datetime | None = None


@dataclass
class RebuildReport:
    """What a rebuild did."""

    snapshot: MetricsSnapshot | None
    restored_rows: int = 0
    replays: list[StreamReplay] = field(default_factory=list)
    erasures: int = 0
    gaps: list[str] = field(default_factory=list)


async def _stream_bounds(js: JetStreamContext, stream: str) -> tuple[int, int, datetime | None]:
    """The first and last sequences the stream holds, and when its first message was stored."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return 0, 0, None
    first, last = int(info.state.first_seq), int(info.state.last_seq)
    when = None
    if info.state.messages:
        with contextlib.suppress(NotFoundError):
            stored = (await js.get_msg(stream, seq=first)).time
            when = stored if isinstance(stored, datetime) else None
    return first, last, when


async def _events_after(
    js: JetStreamContext, stream: str, subject: str, start_seq: int, last_seq: int
) -> AsyncIterator[list[Event[Contract]]]:
    """The stream's events of `subject` from `start_seq` to `last_seq`, in batches, read by an ephemeral
    consumer that acknowledges nothing (the durable consumers are left alone)."""
    envelope = event_model(Contract)
    name = f"metrics-rebuild-{uuid4_str()}"
    config = ConsumerConfig(
        name=name,
        filter_subject=subject,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start_seq, 1),
        inactive_threshold=60.0,
        mem_storage=True,
    )
    await js.add_consumer(stream, config=config)
    sub = await js.pull_subscribe_bind(consumer=name, stream=stream)
    try:
        done = False
        while not done:
            try:
                msgs = await sub.fetch(REPLAY_BATCH, timeout=2.0)
            except (NatsTimeout, TimeoutError):
                break
            batch: list[Event[Contract]] = []
            for msg in msgs:
                meta = msg.metadata
                if meta.sequence.stream > last_seq:
                    done = True
                    break
                try:
                    batch.append(envelope.model_validate_json(msg.data))
                except ValidationError:
                    # A poison message: the live consumer dead-lettered it and folded nothing.
                    log.warning(
                        "metrics.rebuild_unreadable", extra={"stream": stream, "seq": meta.sequence.stream}
                    )
                if meta.sequence.stream >= last_seq or meta.num_pending == 0:
                    done = True
            if batch:
                yield batch
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)


async def consumers_attached(js: JetStreamContext, *, looks: int = 4, pause_s: float = 0.5) -> list[str]:
    """The folding consumers a running metrics service is pulling from (a waiting pull request seen in
    any of a few looks): a rebuild of its tables would race its writes."""
    attached: set[str] = set()
    for look in range(looks):
        for sub in FOLDING:
            assert sub.subject is not None
            with contextlib.suppress(NotFoundError):
                info = await js.consumer_info(stream_of(sub.subject), sub.durable)
                if info.num_waiting:
                    attached.add(sub.durable)
        if look < looks - 1:
            await asyncio.sleep(pause_s)
    return sorted(attached)


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    *,
    use_snapshot: bool = True,
    allow_gap: bool = False,
    progress: Progress = _quiet,
) -> RebuildReport:
    """Clear the fact tables, restore the latest snapshot, fold what the streams hold after it, and
    re-apply every recorded erasure: one transaction (nothing changes unless all of it succeeds)."""
    async with sessions() as session, session.begin():
        await begin_immediate(session)
        snapshot = await latest_snapshot(session) if use_snapshot else None
        report = RebuildReport(snapshot=snapshot)
        marks = snapshot.watermarks if snapshot is not None else {}
        for sub in FOLDING:
            assert sub.subject is not None
            stream = stream_of(sub.subject)
            first, last, first_at = await _stream_bounds(js, stream)
            mark = int(marks.get(sub.durable, 0))
            replay = StreamReplay(durable=sub.durable, stream=stream, start_seq=mark + 1, last_seq=last)
            replay.oldest_at = first_at
            if snapshot is not None and first > mark + 1:
                report.gaps.append(
                    f"{stream}: events {mark + 1}-{first - 1} after the snapshot have expired from the stream"
                )
            report.replays.append(replay)
        if report.gaps and not allow_gap:
            raise RebuildRefused("; ".join(report.gaps))

        pairs = (
            await session.execute(select(_ERASED.c.tenant_id, _ERASED.c.profile_id, _ERASED.c.anonymous_id))
        ).all()
        for table in reversed(FACT_TABLES):
            await session.execute(delete(table))
        progress("fact tables cleared")
        if snapshot is not None:
            report.restored_rows = await _restore(session, snapshot.snapshot_id, progress)
            await _summaries_if_missing(session, progress)
            await session.run_sync(lambda sync: rollups.backfill(sync.connection()))
            progress("mention counts computed from the restored rows")

        for replay, sub in zip(report.replays, FOLDING, strict=True):
            assert sub.subject is not None and sub.batch_handler is not None
            if replay.last_seq < replay.start_seq:
                progress(f"{replay.stream}: nothing after sequence {replay.start_seq - 1}")
                continue
            handler = sub.batch_handler
            async for batch in _events_after(
                js, replay.stream, sub.subject, replay.start_seq, replay.last_seq
            ):
                # The live handlers fold an event still naming an erased id under its random id.
                await _fold(session, handler, batch)
                replay.events += len(batch)
                progress(f"{replay.stream}: {replay.events} events folded")
            progress(
                f"{replay.stream}: {replay.events} events folded "
                f"(sequences {replay.start_seq}-{replay.last_seq})"
            )

        # The snapshot's rows were rewritten at each erasure; this catches one taken while an erasure ran.
        for tenant_id, profile_id, anonymous in pairs:
            await privacy.replace_profile_id(session, tenant_id, profile_id, anonymous)
        report.erasures = len(pairs)
        progress(f"{len(pairs)} erasures re-applied")
    log.info(
        "metrics.rebuilt",
        extra={"restored": report.restored_rows, "events": sum(r.events for r in report.replays)},
    )
    return report


async def _fold(
    session: AsyncSession,
    handler: Callable[[AsyncSession, Sequence[Event[Any]]], Awaitable[None]],
    batch: Sequence[Event[Contract]],
) -> None:
    """Fold one batch as the live consumer does (its batch handler, on a session state of its own)."""
    await handler(session, batch)
    await session.flush()
    # The handlers cache the rows of their batch in `session.info`, the way a live batch's new session
    # starts empty: forget them between batches.
    session.info.clear()
    session.expunge_all()


async def _summaries_if_missing(session: AsyncSession, progress: Progress) -> None:
    """A snapshot taken before the day summaries existed holds none: compute them from its rows."""
    for table in summaries.TABLES:
        if await session.scalar(select(func.count()).select_from(table)):
            return
    await session.run_sync(lambda sync: summaries.backfill(sync.connection()))
    progress("day summaries computed from the restored rows (the snapshot had none)")


async def _restore(session: AsyncSession, snapshot_id: str, progress: Progress) -> int:
    restored = 0
    for table in COPIED:
        count = 0
        result = await session.stream(
            select(_ROW.c.data)
            .where(_ROW.c.snapshot_id == snapshot_id, _ROW.c.table_name == table.name)
            .order_by(_ROW.c.position)
        )
        async for chunk in result.partitions(COPY_BATCH):
            await session.execute(table.insert(), [_load_row(table, data) for (data,) in chunk])
            count += len(chunk)
        progress(f"{table.name}: {count} rows restored from the snapshot")
        restored += count
    return restored


async def connect_nats(url: str, *, timeout_s: float = 3.0) -> NATS:
    """A NATS connection for a command: an unreachable server is an error within `timeout_s` (nats-py
    would otherwise keep trying, and print each failure)."""

    async def quiet(_exc: Exception) -> None:
        return None

    return await asyncio.wait_for(
        nats.connect(
            url,
            name="rapport-metrics-cli",
            connect_timeout=timeout_s,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=quiet,
        ),
        timeout=timeout_s * 2,
    )
