"""Query backfills: a new, re-activated or re-worded listening query is matched against old posts too.

Live matching (mentions.analysing → queries.logic.record_batch_matches) only sees posts analysed after the
query exists. A `QueryBackfill` row, written with the query's change, asks this service task to match the
query against the tenant's already-analysed posts of the last `query_backfill_days` (by post time),
newest first, `query_backfill_batch` posts per transaction. Each batch adds and removes match rows with
`queries.logic.sync_match` (so `GET /v1/mentions?query_id=` shows old posts, and posts that no longer
match a re-worded query leave it), moves the hourly buckets, and advances the row's cursor and counts —
all in one transaction. After the window come the query's older matches, re-checked the same way.
A batch is matched in a worker thread, each post within the matching budget (queries.logic); a post
that runs out keeps the match row it had, or not, and is flagged.

Crash-safe and idempotent: a restart resumes after the last committed batch, and a redone batch finds
its match rows already there (the rows are the record of what is counted), so buckets are never counted
twice. A change of the query while a pass runs bumps `generation`; a batch of the old generation is then
rolled back, and the pass restarts. Spike alerts are left to the periodic check (queries.alerts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.listening.models import ListeningQuery, Mention, MentionQueryMatch, QueryBackfill
from services.listening.queries.language import Query, QuerySyntaxError, compile_query
from services.listening.queries.logic import (
    Deltas,
    MatchOutcome,
    apply_deltas,
    flag_budget_exceeded,
    match_prepared,
    post_of,
    prepare_mention,
    query_languages,
    sync_match,
)
from shared.db import utcnow
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening.backfill")

IDLE_WAIT_S = 5.0  # with nothing to do, look again this often (other replicas, resumed passes)


async def _rows(session: AsyncSession, job: QueryBackfill, limit: int) -> list[Mention]:
    """The next posts to check, newest first: the window's, then older ones the query matched."""
    assert job.since is not None
    base = scoped(Mention, job.tenant_id).where(Mention.analysis_status == "analysed")
    if job.cursor_at is not None:
        base = base.where(
            or_(
                col(Mention.created_at) < job.cursor_at,
                and_(col(Mention.created_at) == job.cursor_at, col(Mention.id) < job.cursor_id),
            )
        )
    order = (col(Mention.created_at).desc(), col(Mention.id).desc())
    if job.cursor_at is None or job.cursor_at >= job.since:
        window = base.where(col(Mention.created_at) >= job.since).order_by(*order).limit(limit)
        rows = list((await session.execute(window.with_for_update())).scalars())
        if rows:
            return rows
    older = (
        base.where(col(Mention.created_at) < job.since)
        .where(
            col(Mention.id).in_(
                select(col(MentionQueryMatch.mention_id)).where(
                    col(MentionQueryMatch.tenant_id) == job.tenant_id,
                    col(MentionQueryMatch.query_id) == job.query_id,
                )
            )
        )
        .order_by(*order)
        .limit(limit)
    )
    return list((await session.execute(older.with_for_update())).scalars())


def _match(
    query: Query, languages: frozenset[str] | None, posts: list[Any], *, budget_s: float
) -> list[MatchOutcome]:
    """Match one query against each post within its budget; runs in a worker thread."""
    queries = {"query": query}
    allowed = {"query": languages} if languages is not None else {}
    return [match_prepared(queries, allowed, prepare_mention(post), budget_s=budget_s) for post in posts]


async def backfill_step(
    sessions: async_sessionmaker[AsyncSession],
    *,
    write_lock: asyncio.Lock,
    batch: int,
    days: int,
    budget_s: float,
) -> bool:
    """Run one batch of the oldest running backfill (each post within `budget_s`); False when there is
    none. `write_lock`: the app's turn-taking of writers to the mention table (logic.ingesting)."""
    async with write_lock, sessions() as session:
        pick = (
            select(QueryBackfill)
            .where(col(QueryBackfill.status) == "running")
            .order_by(col(QueryBackfill.started_at), col(QueryBackfill.query_id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = (await session.execute(pick)).scalars().first()
        if job is None:
            return False
        # The first write of the transaction: from here the row is ours. A query change committed since
        # it was read (a new generation) makes it miss, and the pass restarts on the next step.
        claimed = await session.execute(
            update(QueryBackfill)
            .where(
                col(QueryBackfill.query_id) == job.query_id,
                col(QueryBackfill.generation) == job.generation,
                col(QueryBackfill.status) == "running",
            )
            .values(generation=job.generation)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            return True
        query_row = await session.get(ListeningQuery, job.query_id)
        if query_row is None or not query_row.active:
            job.status, job.finished_at = "stopped", utcnow()
            await session.commit()
            log.info("backfill.stopped", extra={"query_id": job.query_id, "tenant_id": job.tenant_id})
            return True
        try:
            query = compile_query(query_row.expression)
        except QuerySyntaxError:  # stored ones were validated; a grammar change must not stop the task
            job.status, job.finished_at = "stopped", utcnow()
            await session.commit()
            log.warning("backfill.uncompilable", extra={"query_id": job.query_id, "tenant_id": job.tenant_id})
            return True
        if job.since is None:
            job.since = utcnow() - timedelta(days=days)
        mentions = await _rows(session, job, batch)
        existing = {
            r.mention_id: r
            for r in (
                await session.execute(
                    scoped(MentionQueryMatch, job.tenant_id).where(
                        MentionQueryMatch.query_id == job.query_id,
                        col(MentionQueryMatch.mention_id).in_([m.id for m in mentions]),
                    )
                )
            ).scalars()
        }
        languages = query_languages(query_row)
        live = [m for m in mentions if m.redacted_at is None]
        outcomes = await asyncio.to_thread(
            _match, query, languages, [post_of(m) for m in live], budget_s=budget_s
        )
        decided = dict(zip([m.id for m in live], outcomes, strict=True))
        totals: Deltas = Counter()
        negatives: Deltas = Counter()
        matched = 0
        for mention in mentions:
            outcome = decided.get(mention.id)
            if outcome is None:
                wanted = False  # redacted
            elif outcome.budget_exceeded:  # undecided: the post keeps the match it had, or not
                wanted = mention.id in existing
                await flag_budget_exceeded(session, mention=mention, outcome=outcome)
            else:
                wanted = bool(outcome.query_ids)
            matched += wanted
            await sync_match(
                session,
                mention,
                query_id=job.query_id,
                row=existing.get(mention.id),
                wanted=wanted,
                totals=totals,
                negatives=negatives,
            )
        await apply_deltas(session, tenant_id=job.tenant_id, totals=totals, negatives=negatives)
        job.scanned += len(mentions)
        job.matched += matched
        if mentions:
            job.cursor_at, job.cursor_id = mentions[-1].created_at, mentions[-1].id
        else:
            job.status, job.finished_at = "done", utcnow()
        await session.commit()
    if not mentions:
        log.info(
            "backfill.done",
            extra={"query_id": job.query_id, "tenant_id": job.tenant_id, "scanned": job.scanned},
        )
    return True


async def run_backfills(
    sessions: async_sessionmaker[AsyncSession],
    *,
    wanted: asyncio.Event,
    write_lock: asyncio.Lock,
    batch: int,
    days: int,
    pause_s: float,
    budget_s: float,
) -> None:
    """Forever: run backfill batches while there are any, else wait for a query change to set `wanted`."""
    while True:
        wanted.clear()
        try:
            worked = await backfill_step(
                sessions, write_lock=write_lock, batch=batch, days=days, budget_s=budget_s
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("backfill.step_failed")
            await asyncio.sleep(1)
            continue
        if worked:
            await asyncio.sleep(pause_s)  # 0 still yields: the write lock is shared with ingest
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wanted.wait(), timeout=IDLE_WAIT_S)
