"""Listening queries: CRUD, matching incoming mentions against them, and recording the matches.

For the analysis worker, once a batch of mentions is analysed, in the worker's transaction:

    outcomes = await match_batch(session, mentions, matcher=matcher)   # mention id → MatchOutcome
    spikes = await record_batch_matches(session, [NewMatches(...) for each mention])
    # ... per mention: raise_spikes(session, tenant_id=..., spikes=spikes[mention.id]) if any, then put
    # outcome.query_ids into MentionReceived.matched_query_ids and stage the event ...

`record_batch_matches` never commits: it adds `MentionQueryMatch` rows (so `GET /v1/mentions?query_id=`
finds the mention), increments the hourly `QueryBucket` of every matched query (volume and negative count)
and returns the spikes that start, which `alerts.raise_spikes` stores as an `Alert` and stages as
`listening.alert.raised` — all in the caller's transaction. A repeat is a no-op (query ids the mention
already matched are skipped, so a redelivered batch is not counted twice).

Cost (API4): a query is checked against the cost limits (`queries.language.cost`, from the settings) when it
is created or changed, and a tenant holds at most `max_queries_per_tenant` queries. Matching — folding the
post and running the tenant's compiled queries — is CPU work, so it runs in a worker thread, never on the
event loop, and stops after the per-post budget (`QueryMatcher.budget_s`): a post that runs out is stored
with the matches found before the deadline and a `MatchFlag` row (`budget_exceeded`), and the event
`query.match_budget_exceeded` is logged with ids only.

Compiled queries are cached per tenant in the app's `QueryMatcher` (bounded: `COMPILED_TENANTS`) and
re-compiled when the tenant's queries change (the cache key is the number of the tenant's queries and
their latest `updated_at`, read with one small aggregate query).

Matches follow the mention: `resync_mention` (and `resync_mentions`, for a fetched batch: listening's own
consumer of `listening.mention.reanalysed`, `.edited` and `.redacted`) re-matches the mention's current
text and language against the active queries, adds and removes match rows and moves their bucket counts,
including the negative count when the sentiment changed. A redacted post leaves every query. The match
rows are the record of what is counted (`MentionQueryMatch.negative` too), so a resync repeated or out of
order changes nothing more.

A created, re-activated or re-worded query gets a `QueryBackfill` row in its own transaction; the backfill
task (queries.backfill) matches it against the tenant's already-analysed posts the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.listening.errors import (
    ListeningQueryNotFound,
    QueryExpressionInvalid,
    QueryTooExpensive,
    QuotaExceeded,
)
from services.listening.models import (
    ListeningQuery,
    MatchFlag,
    Mention,
    MentionQueryMatch,
    QueryBackfill,
    new_id,
)
from services.listening.queries.alerts import (
    Counted,
    adjust_buckets,
    count_batch_in_buckets,
    hour_of,
)
from services.listening.queries.language import (
    Doc,
    Query,
    QueryLimits,
    QuerySyntaxError,
    compile_query,
    match_within,
    prepare,
)
from services.listening.queries.language import QueryTooExpensive as CostExceeded
from services.listening.queries.language.matcher import fold_language
from services.listening.queries.language.parser import parse
from services.listening.queries.schemas import (
    BackfillRead,
    ExpressionChecked,
    ListeningQueryCreate,
    ListeningQueryPage,
    ListeningQueryRead,
    ListeningQueryUpdate,
    MatchFlagRead,
    QueryUsage,
)
from services.listening.queries.spikes import Spike
from services.listening.wakeups import Wakeups
from shared.db import utcnow
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_row_scoped, get_scoped, scoped

log = logging.getLogger("rapport.listening")

UNDETERMINED = "und"

RECENT_FLAGS = 20  # flagged mentions listed by `query_usage`
# Tenants whose compiled queries one app keeps (least recently matched dropped first): at the default
# cap of 200 queries a tenant, a few hundred MB at worst; a tenant dropped is compiled again on its next
# post (milliseconds per query).
COMPILED_TENANTS = 1000


@dataclass(frozen=True, slots=True)
class _Compiled:
    key: tuple[Any, ...]
    queries: dict[str, Query]
    languages: dict[str, frozenset[str]]  # query id → allowed folded language codes (absent = any)


class QueryMatcher:
    """One app's matching: its per-post budget and its tenants' compiled queries (bounded, LRU)."""

    def __init__(self, *, budget_s: float, tenants: int = COMPILED_TENANTS) -> None:
        self.budget_s = max(0.0, budget_s)
        self._tenants = max(1, tenants)
        self._compiled: OrderedDict[str, _Compiled] = OrderedDict()

    def cached(self, tenant_id: str, key: tuple[Any, ...]) -> _Compiled | None:
        """The tenant's compiled queries if they are still those of `key` (the tenant's count and latest
        `updated_at`)."""
        compiled = self._compiled.get(tenant_id)
        if compiled is None or compiled.key != key:
            return None
        self._compiled.move_to_end(tenant_id)
        return compiled

    def keep(self, tenant_id: str, compiled: _Compiled) -> None:
        """Cache the tenant's compiled queries, dropping the least recently used tenant beyond the bound."""
        self._compiled[tenant_id] = compiled
        self._compiled.move_to_end(tenant_id)
        while len(self._compiled) > self._tenants:
            self._compiled.popitem(last=False)

    def __contains__(self, tenant_id: str) -> bool:
        """Whether the tenant's compiled queries are cached here."""
        return tenant_id in self._compiled


def _expression_error(exc: CostExceeded | QuerySyntaxError, expression: str, kind: str) -> dict[str, Any]:
    """The problem's `errors` entry for a refused expression: where, what, and a caret under it."""
    return {
        "loc": ["body", "expression"],
        "position": exc.position,
        "msg": exc.message,
        "pointer": exc.pointer(expression),
        "type": kind,
    }


def _compile(expression: str, limits: QueryLimits) -> Query:
    try:
        return compile_query(expression, limits)
    except CostExceeded as exc:
        error = _expression_error(exc, expression, "query_cost")
        error.update(limit=exc.limit, maximum=exc.maximum)
        raise QueryTooExpensive(
            f"The query would be too costly to match: {exc.message} (limit {exc.limit} = {exc.maximum}).",
            errors=[error],
        ) from None
    except QuerySyntaxError as exc:
        raise QueryExpressionInvalid(
            f"The query expression is not valid: {exc.message}.",
            errors=[_expression_error(exc, expression, "query_syntax")],
        ) from None


def _fold_languages(languages: list[str] | None) -> str:
    if not languages:
        return ""
    return ",".join(dict.fromkeys(fold_language(code) for code in languages))


def _languages(row: ListeningQuery | Row[Any]) -> list[str]:
    return [code for code in row.languages.split(",") if code]


async def _compiled(session: AsyncSession, tenant_id: str, matcher: QueryMatcher) -> _Compiled:
    key_row = (
        await session.execute(
            select(func.count(col(ListeningQuery.id)), func.max(ListeningQuery.updated_at)).where(
                col(ListeningQuery.tenant_id) == tenant_id
            )
        )
    ).one()
    key = (key_row[0], key_row[1])
    cached = matcher.cached(tenant_id, key)
    if cached is not None:
        return cached
    stmt = scoped(ListeningQuery, tenant_id).where(col(ListeningQuery.active).is_(True))
    rows = (
        (await session.execute(stmt.order_by(col(ListeningQuery.created_at), col(ListeningQuery.id))))
        .scalars()
        .all()
    )
    # Compiling a tenant's queries is CPU work too: in a worker thread.
    queries, languages = await asyncio.to_thread(
        _compile_rows, tenant_id, [(r.id, r.expression, r.languages) for r in rows]
    )
    compiled = _Compiled(key, queries, languages)
    matcher.keep(tenant_id, compiled)
    return compiled


def _compile_rows(
    tenant_id: str, rows: list[tuple[str, str, str]]
) -> tuple[dict[str, Query], dict[str, frozenset[str]]]:
    """Compile stored (id, expression, languages) rows; stored queries over today's cost limits still
    compile (the grammar's bounds hold), the per-post matching budget keeps them in check."""
    queries: dict[str, Query] = {}
    languages: dict[str, frozenset[str]] = {}
    for query_id, expression, codes in rows:
        try:
            queries[query_id] = compile_query(expression)
        except QuerySyntaxError:  # stored ones were validated; a grammar change must not stop ingestion
            log.warning("query.uncompilable", extra={"query_id": query_id, "tenant_id": tenant_id})
            continue
        if codes:
            languages[query_id] = frozenset(c for c in codes.split(",") if c)
    return queries, languages


def _language_allowed(allowed: frozenset[str] | None, language: str | None) -> bool:
    if allowed is None:
        return True
    if language is None:
        return False  # a query limited to some languages does not match a post of unknown language
    return language in allowed or language.split("-")[0] in allowed


@dataclass(frozen=True, slots=True)
class Prepared:
    """A mention made ready for matching: its document and its folded language (None = unknown)."""

    doc: Doc
    language: str | None


def prepare_mention(mention: Any) -> Prepared:
    """Uses `mention.text`, `.language` (None or "und" = unknown), `.platform` and `.author_handle`."""
    raw_language = getattr(mention, "language", None)
    language = raw_language if raw_language and raw_language != UNDETERMINED else None
    doc = prepare(
        mention.text,
        language=language,
        platform=getattr(mention, "platform", None),
        author=getattr(mention, "author_handle", None),
    )
    return Prepared(doc, fold_language(language) if language else None)


def query_matches(query: Query, languages: frozenset[str] | None, mention: Prepared) -> bool:
    """Does the prepared mention match the compiled query and its language restriction?"""
    return _language_allowed(languages, mention.language) and query.matches(mention.doc)


def query_languages(row: ListeningQuery) -> frozenset[str] | None:
    """The query's folded language codes, or None for any language."""
    return frozenset(_languages(row)) if row.languages else None


def _hand_over() -> None:
    """Let the event loop's thread take the GIL now, not after the 5 ms switch interval."""
    time.sleep(0)


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """The queries a mention matched; `undecided` are those not tried before the budget ran out."""

    query_ids: list[str]
    undecided: list[str]
    queries: int

    @property
    def budget_exceeded(self) -> bool:
        return bool(self.undecided)


NO_MATCH = MatchOutcome([], [], 0)


def match_prepared(
    queries: dict[str, Query],
    languages: dict[str, frozenset[str]],
    mention: Prepared,
    *,
    budget_s: float,
) -> MatchOutcome:
    """Match a prepared mention against compiled queries within `budget_s` (CPU work: call it in a thread)."""

    def wrong_language(query_id: str) -> bool:
        return not _language_allowed(languages.get(query_id), mention.language)

    matched, decided = match_within(
        queries, mention.doc, budget_s=budget_s, skip=wrong_language, pause=_hand_over
    )
    return MatchOutcome(matched, list(queries)[decided:], len(queries))


@dataclass(frozen=True, slots=True)
class _Post:
    """What matching reads of a mention, copied on the event loop (ORM rows stay in their thread)."""

    text: str
    language: str | None
    platform: str | None
    author_handle: str | None


def post_of(mention: Any) -> Any:
    """A copy of what matching reads of `mention`, safe to hand to a worker thread."""
    return _Post(
        mention.text,
        getattr(mention, "language", None),
        getattr(mention, "platform", None),
        getattr(mention, "author_handle", None),
    )


def _match_many(jobs: list[tuple[_Compiled, _Post]], budget_s: float) -> list[MatchOutcome]:
    """Prepare and match each (compiled queries, mention); runs in a worker thread."""
    outcomes = []
    for compiled, mention in jobs:
        if not compiled.queries:
            outcomes.append(NO_MATCH)
            continue
        prepared = prepare_mention(mention)
        outcomes.append(match_prepared(compiled.queries, compiled.languages, prepared, budget_s=budget_s))
        _hand_over()
    return outcomes


async def match_batch(
    session: AsyncSession,
    mentions: list[Any],
    *,
    matcher: QueryMatcher,
    budget_s: float | None = None,
    flag: bool = True,
    known: dict[str, _Compiled] | None = None,
) -> dict[str, MatchOutcome]:
    """mention id → the tenant's active queries each mention matches; flags overruns.

    A mention is anything with `id`, `tenant_id`, `text`, `language`, `platform` and `author_handle`
    (a `Mention`). The matching runs in one worker thread for the whole batch, each mention within its
    own budget; with `flag`, a mention over budget gets a `MatchFlag` in the caller's transaction (no
    commit). `known`: tenant id → compiled queries the caller has already looked up.
    """
    budget = matcher.budget_s if budget_s is None else budget_s
    # One look at each tenant's queries per batch (a batch is mostly one tenant's posts), not one per post.
    compiled = dict(known or {})
    for tenant_id in dict.fromkeys(m.tenant_id for m in mentions):
        if tenant_id not in compiled:
            compiled[tenant_id] = await _compiled(session, tenant_id, matcher)
    jobs = [(compiled[m.tenant_id], post_of(m)) for m in mentions]
    if not any(c.queries for c, _ in jobs):
        return {m.id: NO_MATCH for m in mentions}
    outcomes = await asyncio.to_thread(_match_many, jobs, budget)
    for mention, outcome in zip(mentions, outcomes, strict=True):
        if flag and outcome.budget_exceeded:
            await flag_budget_exceeded(session, mention=mention, outcome=outcome)
    return {m.id: o for m, o in zip(mentions, outcomes, strict=True)}


async def flag_budget_exceeded(session: AsyncSession, *, mention: Any, outcome: MatchOutcome) -> None:
    """Record that the mention's matching ran out of budget (once per mention); no commit."""
    log.warning(
        "query.match_budget_exceeded",
        extra={
            "mention_id": mention.id,
            "tenant_id": mention.tenant_id,
            "queries": outcome.queries,
            "decided": outcome.queries - len(outcome.undecided),
        },
    )
    stmt = scoped(MatchFlag, mention.tenant_id).where(MatchFlag.mention_id == mention.id)
    flag = (await session.execute(stmt)).scalars().first()
    if flag is None:
        flag = MatchFlag(tenant_id=mention.tenant_id, mention_id=mention.id)
    flag.queries = outcome.queries
    flag.decided = outcome.queries - len(outcome.undecided)
    flag.created_at = utcnow()
    session.add(flag)


@dataclass(frozen=True, slots=True)
class NewMatches:
    """One freshly analysed mention's query matches, for `record_batch_matches`."""

    tenant_id: str
    mention_id: str
    query_ids: list[str]
    created_at: datetime
    sentiment_label: str | None


async def record_batch_matches(
    session: AsyncSession, matches: list[NewMatches]
) -> dict[str, list[tuple[str, datetime, Spike]]]:
    """Store a batch of mentions' query matches, in their order, and count them in the hourly buckets, in a
    few statements; no commit.

    `created_at` is each post's own time (it picks the bucket); `sentiment_label` "negative" counts the
    mention in the bucket's negative count. One read of the matches the mentions already have, one insert
    of the new ones, then per tenant one upsert per (query, hour) and the spike rule's reads
    (`alerts.count_batch_in_buckets`). The spikes that start are returned (mention id → spikes) for the
    caller to raise (`alerts.raise_spikes`) before that mention's announcement."""
    matches = [m for m in matches if m.query_ids]
    if not matches:
        return {}
    rows = await session.execute(
        core_select(col(MentionQueryMatch.mention_id), col(MentionQueryMatch.query_id)).where(
            col(MentionQueryMatch.mention_id).in_(sorted({m.mention_id for m in matches}))
        )
    )
    existing = {(mention_id, query_id) for mention_id, query_id in rows.all()}
    new_rows: list[dict[str, Any]] = []
    counted: dict[str, list[Counted]] = {}
    for m in matches:
        new_ids = [q for q in dict.fromkeys(m.query_ids) if (m.mention_id, q) not in existing]
        negative = m.sentiment_label == "negative"
        new_rows.extend(
            {
                "id": new_id(),
                "tenant_id": m.tenant_id,
                "mention_id": m.mention_id,
                "query_id": q,
                "created_at": m.created_at,
                "negative": negative,
            }
            for q in new_ids
        )
        if new_ids:
            counted.setdefault(m.tenant_id, []).append((m.mention_id, new_ids, m.created_at, negative))
    if not new_rows:
        return {}
    await session.execute(insert(MentionQueryMatch), new_rows)
    spikes: dict[str, list[tuple[str, datetime, Spike]]] = {}
    for tenant_id, tenant_counted in counted.items():
        spikes.update(await count_batch_in_buckets(session, tenant_id=tenant_id, counted=tenant_counted))
    return spikes


Deltas = Counter[tuple[str, datetime]]


async def sync_match(
    session: AsyncSession,
    mention: Mention,
    *,
    query_id: str,
    row: MentionQueryMatch | None,
    wanted: bool,
    totals: Deltas,
    negatives: Deltas,
) -> None:
    """Make the (mention, query) match row what `wanted` says; note the bucket changes; no flush.

    `row` is the existing match row or None; `totals` and `negatives` collect the changes by
    (query id, hour) for `apply_deltas`.
    """
    negative = mention.sentiment_label == "negative" and mention.redacted_at is None
    key = (query_id, hour_of(mention.created_at))
    if row is None:
        if wanted:
            session.add(
                MentionQueryMatch(
                    tenant_id=mention.tenant_id,
                    mention_id=mention.id,
                    query_id=query_id,
                    created_at=mention.created_at,
                    negative=negative,
                )
            )
            totals[key] += 1
            negatives[key] += int(negative)
    elif not wanted:
        await session.delete(row)
        totals[key] -= 1
        negatives[key] -= int(row.negative)
    elif row.negative != negative:
        row.negative = negative
        negatives[key] += 1 if negative else -1


async def apply_deltas(session: AsyncSession, *, tenant_id: str, totals: Deltas, negatives: Deltas) -> None:
    """Flush the match rows, then move the bucket counts `sync_match` noted."""
    await session.flush()
    keys = set(totals) | set(negatives)
    await adjust_buckets(session, tenant_id=tenant_id, deltas={k: (totals[k], negatives[k]) for k in keys})


async def resync_mention(
    session: AsyncSession, *, matcher: QueryMatcher, tenant_id: str, mention_id: str
) -> None:
    """Bring the mention's query matches and their bucket counts in line with its current state; no commit.

    A redacted post matches nothing; otherwise the active queries it matches now, plus the matches it had
    with queries that are inactive or deleted (kept, as they were). A batch of one for `resync_mentions`.
    """
    await resync_mentions(session, matcher=matcher, mentions=[(tenant_id, mention_id)])


async def resync_mentions(
    session: AsyncSession, *, matcher: QueryMatcher, mentions: Sequence[tuple[str, str]]
) -> None:
    """`resync_mention` for a batch of (tenant id, mention id), with a few statements per tenant: the
    mentions and their match rows read at once, one look at the tenant's queries, one matching hand-off
    to a worker thread and one bucket update per (query, hour). A mention named twice is resynced once
    (a resync brings it to its current state)."""
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, mention_id in mentions:
        ids = by_tenant.setdefault(tenant_id, [])
        if mention_id not in ids:
            ids.append(mention_id)
    for tenant_id, ids in by_tenant.items():
        stmt = (
            scoped(Mention, tenant_id)
            .where(col(Mention.id).in_(ids))
            .order_by(col(Mention.id))  # one lock order
            .with_for_update()
        )
        found = [m for m in (await session.execute(stmt)).scalars() if m.analysis_status == "analysed"]
        if not found:
            continue
        found_ids = [m.id for m in found]
        rows: dict[str, dict[str, MentionQueryMatch]] = {}
        matched = await session.execute(
            scoped(MentionQueryMatch, tenant_id).where(col(MentionQueryMatch.mention_id).in_(found_ids))
        )
        for row in matched.scalars():
            rows.setdefault(row.mention_id, {})[row.query_id] = row
        live = [m for m in found if m.redacted_at is None]
        compiled = await _compiled(session, tenant_id, matcher) if live else None
        outcomes = (
            await match_batch(session, live, matcher=matcher, known={tenant_id: compiled})
            if compiled is not None
            else {}
        )
        totals: Deltas = Counter()
        negatives: Deltas = Counter()
        named = {mention_id: i for i, mention_id in enumerate(ids)}
        for mention in sorted(found, key=lambda m: named[m.id]):  # in the order they were named
            had = rows.get(mention.id, {})
            wanted: set[str] = set()
            if compiled is not None and mention.id in outcomes:
                outcome = outcomes[mention.id]
                wanted = set(outcome.query_ids)
                kept = set(outcome.undecided)
                wanted |= {qid for qid in had if qid not in compiled.queries or qid in kept}
            for query_id in sorted(wanted | set(had)):
                await sync_match(
                    session,
                    mention,
                    query_id=query_id,
                    row=had.get(query_id),
                    wanted=query_id in wanted,
                    totals=totals,
                    negatives=negatives,
                )
        await apply_deltas(session, tenant_id=tenant_id, totals=totals, negatives=negatives)
        resynced = set(found_ids)
        for mention_id in ids:
            if mention_id in resynced:
                log.info("query.matches_resynced", extra={"mention_id": mention_id, "tenant_id": tenant_id})


# The tenant's match rows of some mentions whose query still exists. `delete_query` removes a query's
# matches, but a batch matched against the query just before it was deleted may store its rows just after:
# the join keeps those out of every read.
_MATCHES_OF = (
    select(col(MentionQueryMatch.mention_id), col(MentionQueryMatch.query_id))
    .join(
        ListeningQuery,
        and_(
            col(ListeningQuery.id) == col(MentionQueryMatch.query_id),
            col(ListeningQuery.tenant_id) == bindparam("tenant_id"),
        ),
    )
    .where(
        col(MentionQueryMatch.tenant_id) == bindparam("tenant_id"),
        col(MentionQueryMatch.mention_id).in_(bindparam("mention_ids", expanding=True)),
    )
    .order_by(col(MentionQueryMatch.created_at), col(MentionQueryMatch.id))
)

# The ids of the mentions matching one of the tenant's queries (none for a deleted or unknown one).
MATCHING_MENTIONS = (
    select(col(MentionQueryMatch.mention_id))
    .join(ListeningQuery, col(ListeningQuery.id) == col(MentionQueryMatch.query_id))
    .where(
        col(MentionQueryMatch.tenant_id) == bindparam("tenant_id"),
        col(MentionQueryMatch.query_id) == bindparam("query_id"),
        col(ListeningQuery.tenant_id) == bindparam("tenant_id"),
    )
)


async def matches_of(reader: Reader, *, tenant_id: str, mention_ids: list[str]) -> dict[str, list[str]]:
    """mention id → the ids of the existing queries it matched (for mention reads)."""
    if not mention_ids:
        return {}
    rows = await reader.all(_MATCHES_OF, {"tenant_id": tenant_id, "mention_ids": mention_ids})
    found: dict[str, list[str]] = {mid: [] for mid in mention_ids}
    for mention_id, query_id in rows:
        found[mention_id].append(query_id)
    return found


# --- CRUD -------------------------------------------------------------------------------------------


def _backfill_read(job: QueryBackfill | Row[Any] | None) -> BackfillRead | None:
    if job is None:
        return None
    return BackfillRead.model_validate(job, from_attributes=True)


async def _backfills(
    session: AsyncSession, *, tenant_id: str, query_ids: list[str]
) -> dict[str, QueryBackfill]:
    if not query_ids:
        return {}
    stmt = scoped(QueryBackfill, tenant_id).where(col(QueryBackfill.query_id).in_(query_ids))
    return {job.query_id: job for job in (await session.execute(stmt)).scalars()}


# The backfills of some of the tenant's queries, for reads.
_BACKFILLS = select(QueryBackfill).where(
    col(QueryBackfill.tenant_id) == bindparam("tenant_id"),
    col(QueryBackfill.query_id).in_(bindparam("query_ids", expanding=True)),
)


async def _read_backfills(reader: Reader, *, tenant_id: str, query_ids: list[str]) -> dict[str, Any]:
    if not query_ids:
        return {}
    rows = await reader.all(_BACKFILLS, {"tenant_id": tenant_id, "query_ids": query_ids})
    return {job.query_id: job for job in rows}


async def _start_backfill(session: AsyncSession, row: ListeningQuery) -> None:
    """(Re)start matching the query against already-analysed posts, in the caller's transaction."""
    job = (await _backfills(session, tenant_id=row.tenant_id, query_ids=[row.id])).get(row.id)
    if job is None:
        session.add(QueryBackfill(query_id=row.id, tenant_id=row.tenant_id))
        return
    job.generation += 1
    job.status = "running"
    job.since = job.cursor_at = job.cursor_id = job.finished_at = None
    job.scanned = job.matched = 0
    job.started_at = utcnow()


async def _read(session: AsyncSession, row: ListeningQuery | Row[Any]) -> ListeningQueryRead:
    backfills = await _backfills(session, tenant_id=row.tenant_id, query_ids=[row.id])
    return to_read(row, backfills.get(row.id))


# A pure function of the text, so one memo serves every app; bounded to 4,096 expressions (LRU). Pages
# are parsed off the event loop (`list_queries`), so the memo is shared by threads: under a lock.
NORMALISED_KEPT = 4096
_NORMALISED: OrderedDict[str, str] = OrderedDict()
_NORMALISED_LOCK = threading.Lock()


def _normalised(expression: str) -> str:
    """The expression as the parser understood it (parsing a long query costs milliseconds: cached)."""
    with _NORMALISED_LOCK:
        known = _NORMALISED.get(expression)
        if known is not None:
            _NORMALISED.move_to_end(expression)
            return known
    rendered = parse(expression).render()
    with _NORMALISED_LOCK:
        _NORMALISED[expression] = rendered
        if len(_NORMALISED) > NORMALISED_KEPT:
            _NORMALISED.popitem(last=False)
    return rendered


def to_read(
    row: ListeningQuery | Row[Any], backfill: QueryBackfill | Row[Any] | None = None
) -> ListeningQueryRead:
    """The API view of a listening query."""
    return ListeningQueryRead(
        id=row.id,
        name=row.name,
        kind=row.kind,
        expression=row.expression,
        normalised=_normalised(row.expression),
        languages=_languages(row),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        backfill=_backfill_read(backfill),
    )


# (the tenant's queries, its active ones)
_COUNT = select(
    func.count(col(ListeningQuery.id)),
    func.count(col(ListeningQuery.id)).filter(col(ListeningQuery.active).is_(True)),
).where(col(ListeningQuery.tenant_id) == bindparam("tenant_id"))


async def _count(session: AsyncSession, tenant_id: str) -> tuple[int, int]:
    """(the tenant's queries, its active ones)."""
    row = (await session.execute(_COUNT, {"tenant_id": tenant_id})).one()
    return int(row[0]), int(row[1])


def check_expression(expression: str, limits: QueryLimits) -> ExpressionChecked:
    """Validate an expression as creating a query would, storing nothing: its normal form, or the 422.

    The normal form is the compiled tree's (`Query.__str__`), as `_normalised` renders it: parsed once."""
    return ExpressionChecked(normalised=str(_compile(expression, limits)))


async def create_query(
    session: AsyncSession,
    *,
    tenant_id: str,
    query_in: ListeningQueryCreate,
    limits: QueryLimits,
    max_queries: int,
    wakeups: Wakeups,
) -> ListeningQueryRead:
    """Validate and store a new listening query, within the cost limits and the tenant's query cap."""
    _compile(query_in.expression, limits)
    count, _ = await _count(session, tenant_id)
    if 0 < max_queries <= count:
        raise QuotaExceeded(
            f"The tenant has its quota of {max_queries} listening queries; delete or re-word one instead.",
            quota="queries",
            limit=max_queries,
            used=count,
        )
    now = utcnow()
    row = ListeningQuery(
        tenant_id=tenant_id,
        name=query_in.name,
        kind=query_in.kind,
        expression=query_in.expression,
        languages=_fold_languages(query_in.languages),
        active=query_in.active,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    if row.active:
        await _start_backfill(session, row)
    await session.commit()
    if row.active:
        wakeups.backfill.set()
    log.info("query.created", extra={"query_id": row.id, "tenant_id": tenant_id})
    return await _read(session, row)


async def get_query(reader: Reader, *, tenant_id: str, query_id: str) -> ListeningQueryRead:
    """One listening query of the tenant, or `ListeningQueryNotFound`."""
    row = await get_row_scoped(
        reader, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    backfills = await _read_backfills(reader, tenant_id=tenant_id, query_ids=[row.id])
    return ListeningQueryRead.model_validate(_view(row, backfills.get(row.id)), from_attributes=True)


async def list_queries(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None, kind: str | None = None
) -> ListeningQueryPage:
    """The tenant's listening queries, newest first."""
    rows, next_cursor = await page_of(
        reader, ListeningQuery, tenant_id=tenant_id, limit=limit, cursor=cursor, kind=kind
    )
    backfills = await _read_backfills(reader, tenant_id=tenant_id, query_ids=[r.id for r in rows])
    # A page of long queries is tens of milliseconds of parsing when not cached: not on the event loop
    # (and no hand-over to a thread when the memo has them all).
    with _NORMALISED_LOCK:
        unparsed = [r.expression for r in rows if r.expression not in _NORMALISED]
    if unparsed:
        await asyncio.to_thread(lambda: [_normalised(e) for e in unparsed])
    items = [_view(r, backfills.get(r.id)) for r in rows]
    page = {"items": items, "next_cursor": next_cursor}
    return ListeningQueryPage.model_validate(page, from_attributes=True)


def _view(row: Row[Any] | Any, backfill: Row[Any] | None) -> dict[str, Any]:
    """The API view (`ListeningQueryRead`'s fields) of a query's row read, to validate in one call (the
    backfill's row is read by its attributes)."""
    view: dict[str, Any] = row._asdict()
    view["normalised"] = _normalised(row.expression)
    view["languages"] = _languages(row)
    view["backfill"] = backfill
    return view


async def update_query(
    session: AsyncSession,
    *,
    tenant_id: str,
    query_id: str,
    changes: ListeningQueryUpdate,
    limits: QueryLimits,
    wakeups: Wakeups,
) -> ListeningQueryRead:
    """Change a listening query; a new expression is validated first.

    A new expression or language list, or re-activation, (re)starts its backfill.
    """
    row = await get_scoped(
        session, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    fields = changes.model_dump(exclude_unset=True)
    if fields.get("expression") is not None:
        _compile(fields["expression"], limits)
    before = (row.expression, row.languages, row.active)
    for name, value in fields.items():
        if value is None and name != "languages":
            continue
        if name == "languages":
            row.languages = _fold_languages(value)
        else:
            setattr(row, name, value)
    row.updated_at = max(utcnow(), row.updated_at + timedelta(microseconds=1))  # always moves: cache key
    session.add(row)
    rematch = row.active and (row.expression, row.languages, True) != before
    if rematch:
        await _start_backfill(session, row)
    await session.commit()
    if rematch:
        wakeups.backfill.set()
    log.info("query.updated", extra={"query_id": row.id, "tenant_id": tenant_id})
    return await _read(session, row)


async def delete_query(session: AsyncSession, *, tenant_id: str, query_id: str) -> None:
    """Delete a listening query and its matches (mentions no longer list it); its alerts stay."""
    row = await get_scoped(
        session, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    await session.delete(row)
    await session.execute(
        delete(MentionQueryMatch).where(
            col(MentionQueryMatch.tenant_id) == tenant_id, col(MentionQueryMatch.query_id) == query_id
        )
    )
    await session.execute(delete(QueryBackfill).where(col(QueryBackfill.query_id) == query_id))
    await session.commit()
    log.info("query.deleted", extra={"query_id": query_id, "tenant_id": tenant_id})


_FLAGGED = select(func.count(col(MatchFlag.id))).where(col(MatchFlag.tenant_id) == bindparam("tenant_id"))
_RECENT_FLAGS = (
    core_select(
        col(MatchFlag.mention_id),
        col(MatchFlag.status),
        col(MatchFlag.queries),
        col(MatchFlag.decided),
        col(MatchFlag.created_at),
    )
    .where(col(MatchFlag.tenant_id) == bindparam("tenant_id"))
    .order_by(col(MatchFlag.created_at).desc(), col(MatchFlag.id).desc())
    .limit(RECENT_FLAGS)
)


async def query_usage(
    reader: Reader, *, tenant_id: str, max_queries: int, limits: QueryLimits, match_budget_s: float
) -> QueryUsage:
    """The tenant's query count against its cap, the cost limits, and its posts flagged over budget."""
    params = {"tenant_id": tenant_id}
    count, active = await reader.first(_COUNT, params) or (0, 0)
    flagged = await reader.scalar(_FLAGGED, params)
    recent = await reader.all(_RECENT_FLAGS, params)
    return QueryUsage(
        queries=int(count),
        active=int(active or 0),
        max_queries=max_queries,
        limits={f"query_{name}": value for name, value in asdict(limits).items()},
        match_budget_ms=round(match_budget_s * 1000, 3),
        budget_exceeded=int(flagged or 0),
        recent_budget_exceeded=[MatchFlagRead.model_validate(f, from_attributes=True) for f in recent],
    )
