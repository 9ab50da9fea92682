"""The analysis worker: pending mentions → analysis → `listening.mention.received`, then quality re-scores.

Ingest stores a mention as `pending` and wakes the worker (the app's `Wakeups.analysis`). The worker claims
the oldest pending mentions (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas share the work), marks
them `analysing` and commits; analyses them outside any transaction (CPU-bound, in a thread); then groups
reposts (`mentions.grouping`), stores the analysis and the listening-query matches and stages the event in
one transaction; a post whose author an erasure listed meanwhile is closed as an anonymous count there
instead (`mentions.suppression`), never announced. The matches are worked out just before it, outside
the write lock, in a worker thread, each post within its time budget (`query_match_budget_ms`, see
queries.logic). A claim older than `STALE_CLAIM` (a worker died) is claimed again; a worker stopped on
purpose puts its claim back at once. Each mention keeps the `traceparent` of the request that received
it (a column written at ingest): the span that stages its event continues that trace, so a post's path
stays one trace across the hand-off.

Tier rule: when the pending backlog is at most what the quality tier clears in `HORIZON_S` at its measured
rate, the batch gets the quality tier; otherwise the fast tier, and the mention is marked `needs_rescore`.
When nothing is pending, `needs_rescore` mentions are re-scored with the quality tier, newest first (the
posts an agent opens next; an old backlog does not hold back the fresh ones); a change of language,
sentiment label or intent stages `listening.mention.reanalysed` (reason "quality").

Bursts: while the ingest API receives `ingest_burst_rate` posts/s or more (or has that many waiting for
their answer), the worker gives way, for at most `MAX_GIVE_WAY_S` at a time, then one batch, then again:
the CPU accepts posts first; analysing and announcing them, and everything downstream of the
announcement, catches up once the burst is over. Below that rate every post is analysed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from opentelemetry.trace import SpanKind
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.analysis import Analyser
from services.listening.analysis import Analysis as Result
from services.listening.analysis.rating import with_rating
from services.listening.analysis.tenant import TenantHead
from services.listening.mentions import suppression
from services.listening.mentions.grouping import Shape, assign_groups, text_shape
from services.listening.mentions.ingesting import IngestTraffic
from services.listening.mentions.learning import TenantLearning
from services.listening.mentions.logic import SOURCE, AnalysedFields, analysis_of, received_payload
from services.listening.models import ListeningQuery, Mention
from services.listening.queries.alerts import raise_spikes
from services.listening.queries.logic import (
    NO_MATCH,
    MatchOutcome,
    NewMatches,
    QueryMatcher,
    flag_budget_exceeded,
    match_batch,
    record_batch_matches,
)
from services.listening.wakeups import Wakeups
from shared.db import begin_immediate, lock_tenant, shielded, utcnow
from shared.events.contracts import Analysis, MatchedQuery, MentionReanalysed, QueryKind
from shared.events.envelope import CloudEvent, new_event
from shared.events.outbox import stage
from shared.telemetry import continued

log = logging.getLogger("rapport.listening.analysing")

HORIZON_S = 2.0  # the quality tier is used while it can clear the backlog within this many seconds
QUALITY_BATCH = 32  # one embedding batch of the quality tier
FAST_BATCH = 200  # a claim under backlog (the fast tier does ~10k/s); short write transactions
STALE_CLAIM = timedelta(seconds=120)
IDLE_WAIT_S = 1.0  # also picks up work ingested by other replicas
INITIAL_QUALITY_RATE = 30.0  # mentions/s before the worker has measured its own
RESCORE_QUIET_S = 0.5  # re-score only after this long without an API ingest
MAX_GIVE_WAY_S = 5.0  # the worker gives way to an ingest burst for at most this long at a time
GIVE_WAY_POLL_S = 0.1
RELEASE_TIMEOUT_S = 2.0  # a stopping worker's claim is handed back within this long, or left to go stale


def analysed_fields(result: Result, rating: int | None) -> AnalysedFields:
    """The columns `apply` sets from a tier's analysis of a post with this rating (None: not a review)."""
    result = with_rating(result, rating)
    return AnalysedFields(
        language=result.language.language,
        language_confidence=round(result.language.confidence, 3),
        language_variant=result.language.variant,
        sentiment_label=result.sentiment.label,
        sentiment_score=round(result.sentiment.score, 3),
        sentiment_confidence=round(result.sentiment.confidence, 3),
        intent=result.intent.label,
        intent_confidence=round(result.intent.confidence, 3),
        analysis_tier=result.tier,
        low_confidence=result.low_confidence,
    )


ANALYSED_COLUMNS = tuple(f.name for f in fields(AnalysedFields))

# What a re-score reads of a mention. Re-scores and stored analyses are written back by `_WRITE_BY_ID`, an
# executemany whose SET clause is the parameters' keys (`b_id` the mention's id).
_RESCORE_READ = (
    col(Mention.id),
    col(Mention.tenant_id),
    col(Mention.created_at),
    col(Mention.rating),
    col(Mention.redacted_at),
    *(getattr(Mention, name) for name in ANALYSED_COLUMNS),
)
_MENTIONS = Mention.__table__  # type: ignore[attr-defined]
_WRITE_BY_ID = update(_MENTIONS).where(_MENTIONS.c.id == bindparam("b_id"))
# What storing an analysed mention writes (its group, its analysis, its status), an executemany by id.
_STORED_COLUMNS = (
    "fingerprint",
    "sketch",
    "group_id",
    *ANALYSED_COLUMNS,
    "analysed_at",
    "analysis_status",
    "needs_rescore",
)


def _analysed_columns(analysed: AnalysedFields) -> dict[str, Any]:
    """The analysis columns' values (`ANALYSED_COLUMNS`) by name."""
    return {name: getattr(analysed, name) for name in ANALYSED_COLUMNS}


def _stored_row(mention: Mention) -> dict[str, Any]:
    """The parameters of `_WRITE_BY_ID` for an analysed (detached) mention."""
    row = {name: getattr(mention, name) for name in _STORED_COLUMNS}
    row["b_id"] = mention.id
    return row


def apply(mention: Mention, result: Result) -> None:
    """Store one tier's analysis, with a review's star rating, as the mention's effective analysis."""
    for name, value in _analysed_columns(analysed_fields(result, mention.rating)).items():
        setattr(mention, name, value)
    mention.analysed_at = utcnow()


def changed(before: Analysis, after: Analysis) -> bool:
    """True when what downstream counts by (language, sentiment label, intent) changed."""
    return (before.language, before.sentiment.label, before.intent) != (
        after.language,
        after.sentiment.label,
        after.intent,
    )


async def _query_kinds(session: AsyncSession, outcomes: Iterable[MatchOutcome]) -> dict[str, QueryKind]:
    """query id → kind (brand, competitor, topic) of every query these outcomes matched, in one read."""
    ids = {query_id for outcome in outcomes for query_id in outcome.query_ids}
    if not ids:
        return {}
    rows = await session.execute(
        select(col(ListeningQuery.id), col(ListeningQuery.kind)).where(col(ListeningQuery.id).in_(ids))
    )
    # The API admits only these three kinds, so a stored one is one of them. A query deleted since it
    # matched has no row and is left out of the event.
    return {query_id: cast(QueryKind, kind) for query_id, kind in rows}


def reanalysed_event(
    *,
    mention_id: str,
    tenant_id: str,
    created_at: datetime,
    previous: Analysis,
    current: Analysis,
    reason: Literal["quality", "label"],
) -> CloudEvent:
    """`listening.mention.reanalysed`: the mention's analysis went from `previous` to `current`."""
    return new_event(
        MentionReanalysed(
            mention_id=mention_id,
            created_at=created_at,
            previous=previous,
            analysis=current,
            reason=reason,
        ),
        source=SOURCE,
        tenant_id=tenant_id,
        subject=mention_id,
    )


def stage_reanalysed(
    session: AsyncSession, mention: Mention, *, previous: Analysis, reason: Literal["quality", "label"]
) -> None:
    """Stage `listening.mention.reanalysed` for the mention's current analysis."""
    current = analysis_of(mention)
    assert current is not None
    stage(
        session,
        reanalysed_event(
            mention_id=mention.id,
            tenant_id=mention.tenant_id,
            created_at=mention.created_at,
            previous=previous,
            current=current,
            reason=reason,
        ),
    )


async def _announceable(session: AsyncSession, mentions: list[Mention]) -> list[Mention]:
    """The mentions whose author is not on the suppression list (one statement); the others are closed
    as anonymous counts (`suppression.anonymise_mention`) and will never be announced."""
    authors = {
        m.id: suppression.author_digests(m.tenant_id, m.platform, m.author_handle, m.author_id)
        for m in mentions
    }
    listed = await suppression.suppressed(session, (d for ds in authors.values() for d in ds))
    if not listed:
        return mentions
    kept = []
    for mention in mentions:
        if listed.intersection(authors[mention.id]):
            suppression.anonymise_mention(mention, suppression.SUPPRESSED)
            log.info("analysis.suppressed", extra={"mention_id": mention.id, "tenant_id": mention.tenant_id})
        else:
            kept.append(mention)
    return kept


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed mention as analysis and query matching read it (`language` once analysed)."""

    id: str
    tenant_id: str
    text: str
    platform: str
    author_handle: str
    language: str | None = None


class AnalysisWorker:
    """Analyses pending mentions and re-scores fast-tier ones; one per listening app."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        analyser: Analyser | None = None,
        *,
        traffic: IngestTraffic,
        wakeups: Wakeups,
        matcher: QueryMatcher,
        burst_rate: float = 250.0,
    ) -> None:
        self.sessions = sessions
        self.traffic = traffic
        self.wakeups = wakeups
        self.matcher = matcher
        self.burst_rate = burst_rate
        self.analyser = analyser or Analyser(default_tier="quality")
        self.learning = TenantLearning(sessions, self.analyser, traffic.write_lock)
        self.quality_rate = INITIAL_QUALITY_RATE
        self.analysed = 0
        self.rescored = 0
        # CPU seconds the analyser itself has spent (its thread's time), logged with every batch so that
        # benches can tell analysis apart from the rest of the process (bench/cpu_per_mention.py).
        self.analysis_cpu_s = 0.0
        self._giving_way_since: float | None = None

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Work while there is work; otherwise sleep until an ingest wakes it (or IDLE_WAIT_S passes)."""
        wanted = self.wakeups.analysis
        # Load the quality tier once, off the event loop.
        await asyncio.to_thread(lambda: self.analyser.quality)
        if self.analyser.quality_error:
            log.warning("analysis.quality_unavailable", extra={"error": self.analyser.quality_error})
        while True:
            wanted.clear()
            if self._give_way():
                await asyncio.sleep(GIVE_WAY_POLL_S)
                continue
            try:
                done = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analysis.step_failed")
                await asyncio.sleep(1)
                continue
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wanted.wait(), timeout=IDLE_WAIT_S)

    def _give_way(self) -> bool:
        """True while an ingest burst is on, unless the worker has given way `MAX_GIVE_WAY_S` already."""
        if self.traffic.demand() < self.burst_rate:
            self._giving_way_since = None
            return False
        now = time.monotonic()
        if self._giving_way_since is None:
            self._giving_way_since = now
            log.info("analysis.giving_way", extra={"demand": round(self.traffic.demand())})
            return True
        if now - self._giving_way_since < MAX_GIVE_WAY_S:
            return True
        self._giving_way_since = None  # one batch now, then give way again
        return False

    async def step(self) -> int:
        """One batch of pending mentions, or else one batch of re-scores; how many mentions it handled."""
        done = await self.analyse_pending()
        if done:
            return done
        return await self.rescore()

    # --- pending mentions ----------------------------------------------------------------------

    async def pending_count(self) -> int:
        async with self.sessions() as session:
            stmt = select(func.count()).select_from(Mention).where(col(Mention.analysis_status) == "pending")
            return int((await session.execute(stmt)).scalar_one())

    def _tier_for(self, pending: int) -> str:
        if self.analyser.quality is None:
            return "fast"
        return "quality" if pending <= self.quality_rate * HORIZON_S else "fast"

    async def _claim(self, limit: int) -> list[Claimed]:
        """Mark up to `limit` of the oldest pending (or stale) mentions `analysing`: what analysis and
        matching read of them."""
        now = utcnow()
        async with self.traffic.write_lock, self.sessions() as session:
            stmt = (
                select(
                    col(Mention.id),
                    col(Mention.tenant_id),
                    col(Mention.text),
                    col(Mention.platform),
                    col(Mention.author_handle),
                )
                .where(
                    or_(
                        col(Mention.analysis_status) == "pending",
                        and_(
                            col(Mention.analysis_status) == "analysing",
                            col(Mention.claimed_at) < now - STALE_CLAIM,
                        ),
                    )
                )
                .order_by(col(Mention.received_at), col(Mention.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = [Claimed(*row) for row in (await session.execute(stmt)).all()]
            if claimed:
                await session.execute(
                    update(_MENTIONS)
                    .where(_MENTIONS.c.id.in_([c.id for c in claimed]))
                    .values(analysis_status="analysing", claimed_at=now)
                )
            await session.commit()
            return claimed

    async def analyse_pending(self) -> int:
        pending = await self.pending_count()
        if pending == 0:
            return 0
        tier = self._tier_for(pending)
        claimed = await self._claim(QUALITY_BATCH if tier == "quality" else FAST_BATCH)
        if not claimed:
            return 0
        ids = [c.id for c in claimed]
        try:
            tenant_of = [c.tenant_id for c in claimed]
            results = dict(
                zip(ids, await self._analyse([c.text for c in claimed], tier, tenant_of), strict=True)
            )
            shapes = await asyncio.to_thread(lambda: {c.id: text_shape(c.text) for c in claimed})
            tenants = {c.tenant_id for c in claimed}
            await self._store(results, await self._match(claimed, results), shapes, tenants=tenants)
        except asyncio.CancelledError:
            await self._release(ids)  # the service stops: the next worker need not wait for STALE_CLAIM
            raise
        self.analysed += len(claimed)
        log.info(
            "analysis.batch",
            extra={
                "count": len(claimed),
                "tier": tier,
                "pending": pending,
                "analysis_cpu_s": round(self.analysis_cpu_s, 4),
            },
        )
        return len(claimed)

    async def _release(self, ids: list[str]) -> None:
        """Put claimed mentions not yet stored back to `pending` (best effort and brief: the service is
        stopping, and a claim left behind is taken again after STALE_CLAIM)."""
        with contextlib.suppress(Exception):
            await shielded(self._unclaim(ids), timeout=RELEASE_TIMEOUT_S)
            log.info("analysis.released", extra={"count": len(ids)})

    async def _unclaim(self, ids: list[str]) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(Mention)
                .where(col(Mention.id).in_(ids), col(Mention.analysis_status) == "analysing")
                .values(analysis_status="pending", claimed_at=None)
            )
            await session.commit()

    async def _analyse(self, texts: Sequence[str], tier: str, tenants: Sequence[str]) -> list[Result]:
        # The quality tier applies each posting tenant's corrections (mentions.learning) to its posts.
        heads: dict[str, TenantHead] = {}
        if tier == "quality":
            try:
                heads = await self.learning.heads(tenants)
            except Exception:  # learning never holds analysis back: the general answer stands
                log.exception("learning.heads_failed")
        per_post = [heads.get(t) for t in tenants] if heads else None
        started = time.perf_counter()
        results, cpu_s = await asyncio.to_thread(self._analyse_timed, list(texts), tier, per_post)
        elapsed = time.perf_counter() - started
        self.analysis_cpu_s += cpu_s
        if tier == "quality" and len(texts) >= 4 and elapsed > 0:
            self.quality_rate = 0.7 * self.quality_rate + 0.3 * (len(texts) / elapsed)
        return results

    def _analyse_timed(
        self, texts: list[str], tier: str, heads: list[TenantHead | None] | None
    ) -> tuple[list[Result], float]:
        """The batch's analyses and the CPU seconds this thread spent on them."""
        started = time.thread_time()
        results = self.analyser.analyse_batch(texts, tier, heads)  # type: ignore[arg-type]
        return results, time.thread_time() - started

    async def _match(self, claimed: list[Claimed], results: dict[str, Result]) -> dict[str, MatchOutcome]:
        """The listening queries each analysed mention matches, worked out before the write lock is
        taken (in a worker thread, each post within its budget), so other tenants' writes never wait
        for matching."""
        posts = [
            Claimed(c.id, c.tenant_id, c.text, c.platform, c.author_handle, results[c.id].language.language)
            for c in claimed
        ]
        async with self.sessions() as session:
            return await match_batch(session, posts, matcher=self.matcher, flag=False)

    async def _store(
        self,
        results: dict[str, Result],
        outcomes: dict[str, MatchOutcome],
        shapes: dict[str, Shape],
        *,
        tenants: Iterable[str],
    ) -> None:
        """Store the analyses and matches and stage `listening.mention.received`, in one transaction.

        A mention whose author an erasure listed after the mention was stored (the post was in flight
        while the erasure was answered) is closed as an anonymous count instead, and nothing is announced.
        The erasure and this transaction take the tenant's suppression lock (`shared.db.lock_tenant`;
        SQLite's one writer does the same), so the list read here is the list: an erasure either comes
        first and is seen, or comes after and finds the stored post among the person's."""
        rescore = self.analyser.quality is not None
        async with self.traffic.write_lock, self.sessions() as session:
            await begin_immediate(session)
            for tenant_id in sorted(set(tenants)):  # always in one order: no deadlock between two workers
                await lock_tenant(session, suppression.SUPPRESSION_LOCK, tenant_id)
            stmt = (
                select(Mention)
                .where(col(Mention.id).in_(list(results)), col(Mention.analysis_status) == "analysing")
                .order_by(col(Mention.received_at), col(Mention.id))
                .with_for_update()
            )  # announced in the order they arrived
            mentions = await _announceable(session, list((await session.execute(stmt)).scalars()))
            # The announced mentions leave the session before they change: one Core executemany
            # (`_WRITE_BY_ID`) writes them below, not an ORM flush object by object.
            for mention in mentions:
                session.expunge(mention)
            await assign_groups(session, mentions, shapes)
            for mention in mentions:
                result = results[mention.id]
                apply(mention, result)
                mention.analysis_status = "analysed"
                mention.needs_rescore = rescore and result.tier == "fast"
            kinds = await _query_kinds(session, outcomes.values())
            spikes = await record_batch_matches(
                session,
                [
                    NewMatches(
                        tenant_id=m.tenant_id,
                        mention_id=m.id,
                        query_ids=outcomes.get(m.id, NO_MATCH).query_ids,
                        created_at=m.created_at,
                        sentiment_label=m.sentiment_label,
                    )
                    for m in mentions
                ],
            )
            for mention in mentions:
                outcome = outcomes.get(mention.id, NO_MATCH)
                if outcome.budget_exceeded:
                    await flag_budget_exceeded(session, mention=mention, outcome=outcome)
                matched = outcome.query_ids
                if mention.id in spikes:
                    await raise_spikes(session, tenant_id=mention.tenant_id, spikes=spikes[mention.id])
                # The announcement continues the trace of the request that received the post.
                with continued(mention.traceparent, "announce mention", kind=SpanKind.PRODUCER):
                    stage(
                        session,
                        new_event(
                            received_payload(
                                mention,
                                matched=[
                                    MatchedQuery(query_id=q, kind=kinds[q]) for q in matched if q in kinds
                                ],
                            ),
                            source=SOURCE,
                            tenant_id=mention.tenant_id,
                            subject=mention.id,
                        ),
                    )
            if mentions:
                await session.execute(_WRITE_BY_ID, [_stored_row(m) for m in mentions])
            await session.commit()

    # --- quality re-scores ---------------------------------------------------------------------

    async def rescore(self) -> int:
        """Re-score one batch of fast-tier mentions with the quality tier, when ingest is quiet."""
        if self.analyser.quality is None:
            return 0
        if time.monotonic() - self.traffic.last_write < RESCORE_QUIET_S:
            return 0  # capacity goes to accepting posts first; re-score when they stop coming
        async with self.sessions() as session:
            stmt = (
                select(col(Mention.id), col(Mention.text), col(Mention.tenant_id))
                .where(
                    col(Mention.needs_rescore).is_(True),
                    col(Mention.analysis_status) == "analysed",
                    col(Mention.redacted_at).is_(None),
                )
                .order_by(col(Mention.received_at).desc(), col(Mention.id).desc())
                .limit(QUALITY_BATCH)
            )
            rows = list((await session.execute(stmt)).all())
        if not rows:
            return 0
        results = await self._analyse([text for _, text, _ in rows], "quality", [t for _, _, t in rows])
        by_id = dict(zip([i for i, _, _ in rows], results, strict=True))
        async with self.traffic.write_lock, self.sessions() as session:
            await self._store_rescores(session, by_id)
            await session.commit()
        self.rescored += len(rows)
        log.info(
            "analysis.rescored", extra={"count": len(rows), "analysis_cpu_s": round(self.analysis_cpu_s, 4)}
        )
        return len(rows)

    async def _store_rescores(self, session: AsyncSession, by_id: dict[str, Result]) -> None:
        """Store a batch's quality re-scores (Core: one read, one executemany) and stage
        `listening.mention.reanalysed` where what downstream counts by changed. A mention labelled by an
        agent or removed by its platform meanwhile keeps its analysis; every one is re-scored no more."""
        stmt = (
            select(*_RESCORE_READ)
            .where(col(Mention.id).in_(list(by_id)), col(Mention.needs_rescore).is_(True))
            .with_for_update(skip_locked=True)
        )
        rows = (await session.execute(stmt)).all()
        kept: list[str] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            if row.analysis_tier != "fast" or row.redacted_at is not None:
                kept.append(row.id)  # an agent labelled it, or the platform removed it, meanwhile
                continue
            analysed = analysed_fields(by_id[row.id], row.rating)
            updates.append(
                {
                    "b_id": row.id,
                    **_analysed_columns(analysed),
                    "analysed_at": utcnow(),
                    "needs_rescore": False,
                }
            )
            previous, current = analysis_of(row), analysis_of(analysed)
            if previous is not None and current is not None and changed(previous, current):
                stage(
                    session,
                    reanalysed_event(
                        mention_id=row.id,
                        tenant_id=row.tenant_id,
                        created_at=row.created_at,
                        previous=previous,
                        current=current,
                        reason="quality",
                    ),
                )
        if kept:
            await session.execute(
                update(_MENTIONS).where(_MENTIONS.c.id.in_(kept)).values(needs_rescore=False)
            )
        if updates:
            await session.execute(_WRITE_BY_ID, updates)
