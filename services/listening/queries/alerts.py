"""Hourly per-query volume buckets and spike alerts (rule: `services.listening.queries.spikes.detect_spikes`).

`count_batch_in_buckets` (called by `queries.logic.record_batch_matches`, in the caller's transaction) adds
each matched mention to its query's hour (by the post's own `created_at`), then compares that hour with the
query's previous 24 hours. The history starts at the query's first bucket (a new query has no baseline, and
the spike rule wants `min_history` hours of it); hours without mentions count as zeros. An alert is raised
only when a spike STARTS — that hour spikes and the hour before did not, for that kind — and at most once
per (query, kind, hour) (a unique key), and only for the current or the previous hour: back-filled
history (imports, late pullers) does not page anyone about the past.

`adjust_buckets` moves counts without checking (corrections and query backfills, queries.logic and
queries.backfill); the spike checker (`run_spike_checks`, a service task) re-evaluates every active query's
current and previous hour every `spike_check_interval_s`, so a spike that forms from corrections, or
that no new mention happened to check, is still raised — once, by the same unique key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, func
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.listening.errors import AlertNotFound, ListeningQueryNotFound
from services.listening.models import Alert, ListeningQuery, QueryBucket, new_id
from services.listening.queries.schemas import (
    AlertPage,
    AlertRead,
    QueryVolume,
    ShareOfVoice,
    VoiceShare,
)
from services.listening.queries.spikes import DEFAULT_RULE, Bucket, Spike, detect_spikes
from shared.db import utcnow
from shared.events.contracts import AlertRaised
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_row_scoped, get_scoped, scoped

log = logging.getLogger("rapport.listening")

SOURCE = "listening"
HISTORY_HOURS = 24
HOUR = timedelta(hours=1)
# Below this many mentions in the hour neither kind of spike can fire: skip reading the history.
MIN_SPIKE_TOTAL = min(DEFAULT_RULE.min_count, DEFAULT_RULE.min_share_total)
MAX_VOLUME_HOURS = 24 * 93  # hours with mentions in one read of a query's volume: a quarter or more

# (query id, bucket start) → (change of total, change of negative)
BucketDeltas = Mapping[tuple[str, datetime], tuple[int, int]]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, for ON CONFLICT (SQLite and PostgreSQL spell it the same way)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# A matched mention as `count_batch_in_buckets` counts it: (mention id, new query ids, its created_at,
# whether it counts as negative).
Counted = tuple[str, Sequence[str], datetime, bool]


async def count_batch_in_buckets(
    session: AsyncSession, *, tenant_id: str, counted: Sequence[Counted]
) -> dict[str, list[tuple[str, datetime, Spike]]]:
    """Count a batch of one tenant's matched mentions in their queries' hourly buckets, in as few statements
    as the batch has (query, hour) pairs; the spikes that start, as counting mention by mention would
    have found them: mention id → [(query id, bucket start, spike)], for `raise_spikes`.

    The buckets the spike rule reads are read once (before the counts move) and the batch's mentions are
    replayed over them in memory, in order: each is checked against the counts as they stood after it, as
    the mention-by-mention path checks them."""
    deltas: dict[tuple[str, datetime], list[int]] = {}
    for _, query_ids, created_at, negative in counted:
        hour = hour_of(created_at)
        for query_id in query_ids:
            delta = deltas.setdefault((query_id, hour), [0, 0])
            delta[0] += 1
            delta[1] += int(negative)
    if not deltas:
        return {}
    recent = hour_of(utcnow()) - HOUR  # older hours are back-filled history: counted, never alerted on
    watched = sorted({hour for _, hour in deltas if hour >= recent})
    series: dict[str, dict[datetime, Bucket]] = {}
    first: dict[str, datetime | None] = {}
    if watched:
        query_ids = sorted({query_id for query_id, hour in deltas if hour >= recent})
        series, first = await _batch_series(
            session, tenant_id=tenant_id, query_ids=query_ids, since=watched[0] - (HISTORY_HOURS + 1) * HOUR
        )
        if not any(
            series.get(query_id, {}).get(hour, Bucket(0, 0)).total + delta[0] >= MIN_SPIKE_TOTAL
            for (query_id, hour), delta in deltas.items()
            if hour >= recent
        ):
            watched = []  # none of the batch's hours reaches the count a spike needs
    for (query_id, bucket_start), (added, added_negative) in sorted(deltas.items()):  # one lock order
        await _add(
            session,
            tenant_id=tenant_id,
            query_id=query_id,
            bucket_start=bucket_start,
            total=added,
            negative=added_negative,
        )
    if not watched:
        return {}
    found: dict[str, list[tuple[str, datetime, Spike]]] = {}
    for mention_id, query_ids, created_at, negative in counted:
        hour = hour_of(created_at)
        for query_id in query_ids:
            buckets = series.setdefault(query_id, {})
            before = buckets.get(hour, Bucket(0, 0))
            buckets[hour] = Bucket(before.total + 1, before.negative + int(negative))
            earliest = first.get(query_id)
            first[query_id] = hour if earliest is None else min(earliest, hour)
            if buckets[hour].total < MIN_SPIKE_TOTAL or hour < recent:
                continue
            for spike in _starting(buckets, first[query_id], hour):
                found.setdefault(mention_id, []).append((query_id, hour, spike))
    return found


async def _batch_series(
    session: AsyncSession, *, tenant_id: str, query_ids: list[str], since: datetime
) -> tuple[dict[str, dict[datetime, Bucket]], dict[str, datetime | None]]:
    """The queries' buckets from `since` on, and each query's first bucket: two statements."""
    firsts = await session.execute(
        select(col(QueryBucket.query_id), func.min(QueryBucket.bucket_start))
        .where(col(QueryBucket.tenant_id) == tenant_id, col(QueryBucket.query_id).in_(query_ids))
        .group_by(col(QueryBucket.query_id))
    )
    first: dict[str, datetime | None] = {query_id: hour_of(start) for query_id, start in firsts.all()}
    rows = await session.execute(
        select(
            col(QueryBucket.query_id),
            col(QueryBucket.bucket_start),
            col(QueryBucket.total),
            col(QueryBucket.negative),
        ).where(
            col(QueryBucket.tenant_id) == tenant_id,
            col(QueryBucket.query_id).in_(query_ids),
            col(QueryBucket.bucket_start) >= since,
        )
    )
    series: dict[str, dict[datetime, Bucket]] = {}
    for query_id, start, total, negative in rows.all():
        series.setdefault(query_id, {})[hour_of(start)] = Bucket(total, negative)
    return series, first


async def raise_spikes(
    session: AsyncSession, *, tenant_id: str, spikes: Sequence[tuple[str, datetime, Spike]]
) -> None:
    """Store and announce the spikes `count_batch_in_buckets` found for one mention (once per hour)."""
    for query_id, bucket_start, spike in spikes:
        await _raise(session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start, spike=spike)


async def adjust_buckets(session: AsyncSession, *, tenant_id: str, deltas: BucketDeltas) -> None:
    """Add (or take back) matched mentions in queries' hourly buckets; no spike check (the checker's)."""
    for (query_id, bucket_start), (total, negative) in sorted(deltas.items()):  # one lock order
        if total or negative:
            await _add(
                session,
                tenant_id=tenant_id,
                query_id=query_id,
                bucket_start=hour_of(bucket_start),
                total=total,
                negative=negative,
            )


async def _add(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime, total: int, negative: int
) -> int:
    """Add to one bucket (created when missing); its new total."""
    stmt = _insert(session)(QueryBucket).values(
        id=new_id(),
        tenant_id=tenant_id,
        query_id=query_id,
        bucket_start=bucket_start,
        total=max(total, 0),
        negative=max(negative, 0),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "query_id", "bucket_start"],
        set_={"total": QueryBucket.total + total, "negative": QueryBucket.negative + negative},
    ).returning(col(QueryBucket.total))
    return int((await session.execute(stmt)).scalar_one())


async def _series(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime
) -> tuple[dict[datetime, Bucket], datetime | None]:
    first = (
        await session.execute(
            select(func.min(QueryBucket.bucket_start)).where(
                col(QueryBucket.tenant_id) == tenant_id, col(QueryBucket.query_id) == query_id
            )
        )
    ).scalar_one_or_none()
    since = bucket_start - (HISTORY_HOURS + 1) * HOUR
    rows = (
        await session.execute(
            scoped(QueryBucket, tenant_id).where(
                QueryBucket.query_id == query_id,
                QueryBucket.bucket_start >= since,
                QueryBucket.bucket_start <= bucket_start,
            )
        )
    ).scalars()
    return {r.bucket_start: Bucket(r.total, r.negative) for r in rows}, first


def _history(series: Mapping[datetime, Bucket], first: datetime | None, hour: datetime) -> list[Bucket]:
    start = hour - HISTORY_HOURS * HOUR
    if first is not None:
        start = max(start, first)
    hours: list[Bucket] = []
    at = start
    while at < hour:
        hours.append(series.get(at, Bucket(0, 0)))
        at += HOUR
    return hours


async def _starting_spikes(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime
) -> list[Spike]:
    """The spikes the hour shows that the hour before did not (of each kind)."""
    series, first = await _series(session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start)
    return _starting(series, first, bucket_start)


def _starting(
    series: Mapping[datetime, Bucket], first: datetime | None, bucket_start: datetime
) -> list[Spike]:
    """The spikes the hour shows that the hour before did not, from the query's buckets around it."""
    current = series.get(bucket_start, Bucket(0, 0))
    spikes = detect_spikes(current, _history(series, first, bucket_start))
    if not spikes:
        return []
    previous_hour = bucket_start - HOUR
    ongoing = {
        s.kind
        for s in detect_spikes(
            series.get(previous_hour, Bucket(0, 0)), _history(series, first, previous_hour)
        )
    }
    return [spike for spike in spikes if spike.kind not in ongoing]


async def recheck_spikes(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Evaluate every active query's current and previous hour again; how many alerts it raised."""
    hour = hour_of(utcnow())
    async with sessions() as session:
        stmt = (
            select(col(QueryBucket.tenant_id), col(QueryBucket.query_id), col(QueryBucket.bucket_start))
            .join(
                ListeningQuery,
                and_(
                    col(ListeningQuery.id) == col(QueryBucket.query_id),
                    col(ListeningQuery.tenant_id) == col(QueryBucket.tenant_id),
                ),
            )
            .where(
                col(ListeningQuery.active).is_(True),
                col(QueryBucket.bucket_start) >= hour - HOUR,
                col(QueryBucket.bucket_start) <= hour,
                col(QueryBucket.total) >= MIN_SPIKE_TOTAL,
            )
            .order_by(col(QueryBucket.bucket_start), col(QueryBucket.query_id))
        )
        found: list[tuple[str, str, datetime, Spike]] = []
        for tenant_id, query_id, bucket_start in (await session.execute(stmt)).all():
            spikes = await _starting_spikes(
                session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start
            )
            found.extend((tenant_id, query_id, bucket_start, spike) for spike in spikes)
    if not found:
        return 0  # the usual tick: reads only
    raised = 0
    async with sessions() as session:
        for tenant_id, query_id, bucket_start, spike in found:
            raised += await _raise(
                session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start, spike=spike
            )
        await session.commit()
    return raised


async def run_spike_checks(sessions: async_sessionmaker[AsyncSession], *, interval_s: float) -> None:
    """Forever: `recheck_spikes` every `interval_s` seconds (a failed tick is logged and retried)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            raised = await recheck_spikes(sessions)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("spikes.check_failed")
            continue
        if raised:
            log.info("spikes.checked", extra={"raised": raised})


async def _raise(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime, spike: Spike
) -> int:
    """Store the alert and stage its event, unless already raised for that hour: 1 if raised, else 0."""
    alert_id = new_id()
    now = utcnow()
    stmt = (
        _insert(session)(Alert)
        .values(
            id=alert_id,
            tenant_id=tenant_id,
            query_id=query_id,
            kind=spike.kind,
            observed=spike.observed,
            baseline=spike.baseline,
            score=spike.score,
            bucket_start=bucket_start,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "query_id", "kind", "bucket_start"])
    )
    result = await session.execute(stmt)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return 0  # already raised for this hour
    stage(
        session,
        new_event(
            AlertRaised(
                alert_id=alert_id,
                query_id=query_id,
                kind=spike.kind,
                observed=spike.observed,
                baseline=spike.baseline,
                score=spike.score,
                bucket_start=bucket_start,
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=alert_id,
        ),
    )
    log.info(
        "alert.raised",
        extra={"alert_id": alert_id, "query_id": query_id, "tenant_id": tenant_id, "kind": spike.kind},
    )
    return 1


def to_read(alert: Alert | Row[Any]) -> AlertRead:
    """The API view of an alert."""
    return AlertRead(
        id=alert.id,
        query_id=alert.query_id,
        kind=alert.kind,
        observed=alert.observed,
        baseline=alert.baseline,
        score=alert.score,
        bucket_start=alert.bucket_start,
        created_at=alert.created_at,
    )


async def list_alerts(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None, query_id: str | None = None
) -> AlertPage:
    """The tenant's alerts, newest first, optionally for one query."""
    rows, next_cursor = await page_of(
        reader, Alert, tenant_id=tenant_id, limit=limit, cursor=cursor, query_id=query_id
    )
    return AlertPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def acknowledge_alert(
    session: AsyncSession, *, tenant_id: str, alert_id: str, user_id: str
) -> AlertRead:
    """Mark the tenant's alert as seen by this user; acknowledging it again keeps the first time and user."""
    row = await get_scoped(session, Alert, tenant_id=tenant_id, id=alert_id, error=AlertNotFound)
    if row.acknowledged_at is None:
        row.acknowledged_at = utcnow()
        row.acknowledged_by = user_id
        await session.commit()
        log.info("alert.acknowledged", extra={"alert_id": alert_id, "tenant_id": tenant_id})
    return AlertRead.model_validate(row, from_attributes=True)


@functools.cache
def _volume(until: bool) -> Any:
    stmt = core_select(
        col(QueryBucket.bucket_start), col(QueryBucket.total), col(QueryBucket.negative)
    ).where(
        col(QueryBucket.tenant_id) == bindparam("tenant_id"),
        col(QueryBucket.query_id) == bindparam("query_id"),
        col(QueryBucket.bucket_start) >= bindparam("since"),
        col(QueryBucket.total) > 0,
    )
    if until:
        stmt = stmt.where(col(QueryBucket.bucket_start) < bindparam("until"))
    return stmt.order_by(col(QueryBucket.bucket_start)).limit(MAX_VOLUME_HOURS)


async def query_volume(
    reader: Reader, *, tenant_id: str, query_id: str, since: datetime, until: datetime | None
) -> QueryVolume:
    """The query's hourly buckets from `since`'s hour (up to `until`), oldest first."""
    await get_row_scoped(
        reader, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    params = {"tenant_id": tenant_id, "query_id": query_id, "since": hour_of(since), "until": until}
    rows = await reader.all(_volume(until is not None), params)
    return QueryVolume.model_validate({"query_id": query_id, "items": rows}, from_attributes=True)


# Each active query of some kinds, with its matched and negative mentions in the hours of a period.
_VOICES = (
    core_select(
        col(ListeningQuery.id),
        col(ListeningQuery.name),
        col(ListeningQuery.kind),
        func.coalesce(func.sum(QueryBucket.total), 0),
        func.coalesce(func.sum(QueryBucket.negative), 0),
    )
    .select_from(ListeningQuery)
    .outerjoin(
        QueryBucket,
        and_(
            col(QueryBucket.tenant_id) == col(ListeningQuery.tenant_id),
            col(QueryBucket.query_id) == col(ListeningQuery.id),
            col(QueryBucket.bucket_start) >= bindparam("start"),
            col(QueryBucket.bucket_start) < bindparam("until"),
        ),
    )
    .where(
        col(ListeningQuery.tenant_id) == bindparam("tenant_id"),
        col(ListeningQuery.kind).in_(bindparam("kinds", expanding=True)),
        col(ListeningQuery.active).is_(True),
    )
    .group_by(col(ListeningQuery.id), col(ListeningQuery.name), col(ListeningQuery.kind))
)


async def share_of_voice(
    reader: Reader, *, tenant_id: str, kinds: Sequence[str], since: datetime, until: datetime
) -> ShareOfVoice:
    """Each active query of these kinds: its matched mentions and negative ones in the whole hours from
    `since`'s hour up to `until`, and its share of all of them."""
    start = hour_of(since)
    params = {"tenant_id": tenant_id, "kinds": list(kinds), "start": start, "until": until}
    counts = {
        (qid, name, kind): (int(n), int(neg)) for qid, name, kind, n, neg in await reader.all(_VOICES, params)
    }
    total = sum(n for n, _ in counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1][0], item[0][1], item[0][0]))
    items = [
        VoiceShare(
            query_id=qid,
            name=name,
            kind=kind,
            mentions=n,
            negative=neg,
            share=round(n / total, 4) if total else 0.0,
            negative_share=round(neg / n, 4) if n else None,
        )
        for (qid, name, kind), (n, neg) in ranked
    ]
    return ShareOfVoice(since=start, until=until, total=total, items=items)
