"""Hourly per-query volume buckets and spike alerts (rule: `services.listening.spikes.detect_spikes`).

`count_in_buckets` (called by `logic.queries.record_matches`, in the caller's transaction) adds a matched
mention to its query's hour (by the post's own `created_at`), then compares that hour with the query's
previous 24 hours. The history starts at the query's first bucket (a new query has no baseline, and the
spike rule wants `min_history` hours of it); hours without mentions count as zeros. An alert is raised
only when a spike STARTS — that hour spikes and the hour before did not, for that kind — and at most once
per (query, kind, hour) (a unique key), and only for the current or the previous hour: back-filled
history (imports, late pullers) does not page anyone about the past.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.listening.models import Alert, QueryBucket, new_id
from services.listening.schemas_queries import AlertPage, AlertRead
from services.listening.spikes import DEFAULT_RULE, Bucket, Spike, detect_spikes
from shared.db import utcnow
from shared.events.contracts import AlertRaised
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import paginate
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening")

SOURCE = "listening"
HISTORY_HOURS = 24
HOUR = timedelta(hours=1)
# Below this many mentions in the hour neither kind of spike can fire: skip reading the history.
MIN_SPIKE_TOTAL = min(DEFAULT_RULE.min_count, DEFAULT_RULE.min_share_total)


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, for ON CONFLICT (SQLite and PostgreSQL spell it the same way)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def count_in_buckets(
    session: AsyncSession,
    *,
    tenant_id: str,
    query_ids: list[str],
    created_at: datetime,
    negative: bool,
) -> None:
    """Count one matched mention in each query's hourly bucket, then raise alerts for spikes that start."""
    bucket_start = hour_of(created_at)
    insert = _insert(session)
    for query_id in query_ids:
        stmt = insert(QueryBucket).values(
            id=new_id(),
            tenant_id=tenant_id,
            query_id=query_id,
            bucket_start=bucket_start,
            total=1,
            negative=int(negative),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "query_id", "bucket_start"],
            set_={"total": QueryBucket.total + 1, "negative": QueryBucket.negative + int(negative)},
        ).returning(col(QueryBucket.total))
        total = (await session.execute(stmt)).scalar_one()
        if total < MIN_SPIKE_TOTAL or bucket_start < hour_of(utcnow()) - HOUR:
            continue  # too few to spike, or back-filled history: counted, never alerted on
        await _check_spikes(session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start)


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


def _history(series: dict[datetime, Bucket], first: datetime | None, hour: datetime) -> list[Bucket]:
    start = hour - HISTORY_HOURS * HOUR
    if first is not None:
        start = max(start, first)
    hours: list[Bucket] = []
    at = start
    while at < hour:
        hours.append(series.get(at, Bucket(0, 0)))
        at += HOUR
    return hours


async def _check_spikes(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime
) -> None:
    series, first = await _series(session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start)
    current = series.get(bucket_start, Bucket(0, 0))
    spikes = detect_spikes(current, _history(series, first, bucket_start))
    if not spikes:
        return
    previous_hour = bucket_start - HOUR
    ongoing = {
        s.kind
        for s in detect_spikes(
            series.get(previous_hour, Bucket(0, 0)), _history(series, first, previous_hour)
        )
    }
    for spike in spikes:
        if spike.kind not in ongoing:
            await _raise(
                session, tenant_id=tenant_id, query_id=query_id, bucket_start=bucket_start, spike=spike
            )


async def _raise(
    session: AsyncSession, *, tenant_id: str, query_id: str, bucket_start: datetime, spike: Spike
) -> None:
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
        return  # already raised for this hour
    stage(
        session,
        new_event(
            type="listening.alert.raised",
            source=SOURCE,
            tenant_id=tenant_id,
            data=AlertRaised(
                alert_id=alert_id,
                query_id=query_id,
                kind=spike.kind,
                observed=spike.observed,
                baseline=spike.baseline,
                score=spike.score,
                bucket_start=bucket_start,
            ),
            subject=alert_id,
        ),
    )
    log.info(
        "alert.raised",
        extra={"alert_id": alert_id, "query_id": query_id, "tenant_id": tenant_id, "kind": spike.kind},
    )


def to_read(alert: Alert) -> AlertRead:
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
    session: AsyncSession, *, tenant_id: str, limit: int, cursor: str | None, query_id: str | None = None
) -> AlertPage:
    """The tenant's alerts, newest first, optionally for one query."""
    stmt = scoped(Alert, tenant_id)
    if query_id is not None:
        stmt = stmt.where(Alert.query_id == query_id)
    rows, next_cursor = await paginate(session, stmt, Alert, limit=limit, cursor=cursor)
    return AlertPage(items=[to_read(a) for a in rows], next_cursor=next_cursor)
