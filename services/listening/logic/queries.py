"""Listening queries: CRUD, matching incoming mentions against them, and recording the matches.

For the analysis worker (helper A), once a mention is analysed, in the worker's transaction:

    query_ids = await matched_query_ids(session, tenant_id=tenant_id, mention=mention)
    # ... put query_ids into MentionReceived.matched_query_ids and stage listening.mention.received ...
    await record_matches(
        session, tenant_id=tenant_id, mention_id=mention.id, query_ids=query_ids,
        created_at=mention.created_at, sentiment_label=mention.sentiment_label,
    )

`record_matches` never commits: it adds `MentionQueryMatch` rows (so `GET /v1/mentions?query_id=` finds the
mention), increments the hourly `QueryBucket` of every matched query (volume and negative count) and, when a
spike starts, stores an `Alert` and stages `listening.alert.raised` — all in the caller's transaction. Call
it once per mention; a repeat is a no-op (query ids the mention already matched are skipped, so a
redelivered batch is not counted twice).

Compiled queries are cached per tenant and re-compiled when the tenant's queries change (the cache key is
the number of the tenant's queries and their latest `updated_at`, read with one small aggregate query).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.listening.errors import ListeningQueryNotFound, QueryExpressionInvalid
from services.listening.logic.alerts import count_in_buckets
from services.listening.models import ListeningQuery, MentionQueryMatch
from services.listening.query import Query, QuerySyntaxError, compile_query, prepare
from services.listening.query.matcher import fold_language
from services.listening.schemas_queries import (
    ListeningQueryCreate,
    ListeningQueryPage,
    ListeningQueryRead,
    ListeningQueryUpdate,
)
from shared.db import utcnow
from shared.pagination import paginate
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.listening")

UNDETERMINED = "und"


@dataclass(frozen=True, slots=True)
class _Compiled:
    key: tuple[Any, ...]
    queries: dict[str, Query]
    languages: dict[str, frozenset[str]]  # query id → allowed folded language codes (absent = any)


_cache: dict[str, _Compiled] = {}


def _compile(expression: str) -> Query:
    try:
        return compile_query(expression)
    except QuerySyntaxError as exc:
        raise QueryExpressionInvalid(
            f"The query expression is not valid: {exc.message}.",
            errors=[
                {
                    "loc": ["body", "expression"],
                    "position": exc.position,
                    "msg": exc.message,
                    "pointer": exc.pointer(expression),
                    "type": "query_syntax",
                }
            ],
        ) from None


def _fold_languages(languages: list[str] | None) -> str:
    if not languages:
        return ""
    return ",".join(dict.fromkeys(fold_language(code) for code in languages))


def _languages(row: ListeningQuery) -> list[str]:
    return [code for code in row.languages.split(",") if code]


async def _compiled(session: AsyncSession, tenant_id: str) -> _Compiled:
    key_row = (
        await session.execute(
            select(func.count(col(ListeningQuery.id)), func.max(ListeningQuery.updated_at)).where(
                col(ListeningQuery.tenant_id) == tenant_id
            )
        )
    ).one()
    key = (key_row[0], key_row[1])
    cached = _cache.get(tenant_id)
    if cached is not None and cached.key == key:
        return cached
    stmt = scoped(ListeningQuery, tenant_id).where(col(ListeningQuery.active).is_(True))
    rows = (
        (await session.execute(stmt.order_by(col(ListeningQuery.created_at), col(ListeningQuery.id))))
        .scalars()
        .all()
    )
    queries: dict[str, Query] = {}
    languages: dict[str, frozenset[str]] = {}
    for row in rows:
        try:
            queries[row.id] = compile_query(row.expression)
        except QuerySyntaxError:  # stored ones were validated; a grammar change must not stop ingestion
            log.warning("query.uncompilable", extra={"query_id": row.id, "tenant_id": tenant_id})
            continue
        if row.languages:
            languages[row.id] = frozenset(_languages(row))
    compiled = _Compiled(key, queries, languages)
    _cache[tenant_id] = compiled
    return compiled


def _language_allowed(allowed: frozenset[str] | None, language: str | None) -> bool:
    if allowed is None:
        return True
    if language is None:
        return False  # a query limited to some languages does not match a post of unknown language
    return language in allowed or language.split("-")[0] in allowed


async def matched_query_ids(session: AsyncSession, *, tenant_id: str, mention: Any) -> list[str]:
    """The ids of the tenant's active listening queries that `mention` (a `Mention`) matches.

    Uses `mention.text`, `.language` (None or "und" = unknown), `.platform` and `.author_handle`.
    """
    compiled = await _compiled(session, tenant_id)
    if not compiled.queries:
        return []
    raw_language = getattr(mention, "language", None)
    language = raw_language if raw_language and raw_language != UNDETERMINED else None
    doc = prepare(
        mention.text,
        language=language,
        platform=getattr(mention, "platform", None),
        author=getattr(mention, "author_handle", None),
    )
    folded_language = fold_language(language) if language else None
    return [
        query_id
        for query_id, query in compiled.queries.items()
        if _language_allowed(compiled.languages.get(query_id), folded_language) and query.matches(doc)
    ]


async def record_matches(
    session: AsyncSession,
    *,
    tenant_id: str,
    mention_id: str,
    query_ids: list[str],
    created_at: datetime,
    sentiment_label: str | None = None,
) -> None:
    """Store the mention's query matches, count them in the hourly buckets, raise spike alerts; no commit.

    `created_at` is the post's own time (it picks the bucket); `sentiment_label` "negative" counts the
    mention in the bucket's negative count.
    """
    if not query_ids:
        return
    existing = set(
        (
            await session.execute(
                select(col(MentionQueryMatch.query_id)).where(
                    MentionQueryMatch.tenant_id == tenant_id, MentionQueryMatch.mention_id == mention_id
                )
            )
        )
        .scalars()
        .all()
    )
    new_ids = [qid for qid in dict.fromkeys(query_ids) if qid not in existing]
    for query_id in new_ids:
        session.add(
            MentionQueryMatch(
                tenant_id=tenant_id, mention_id=mention_id, query_id=query_id, created_at=created_at
            )
        )
    if new_ids:
        await session.flush()
        await count_in_buckets(
            session,
            tenant_id=tenant_id,
            query_ids=new_ids,
            created_at=created_at,
            negative=sentiment_label == "negative",
        )


async def matches_of(
    session: AsyncSession, *, tenant_id: str, mention_ids: list[str]
) -> dict[str, list[str]]:
    """mention id → the ids of the queries it matched (for mention reads)."""
    if not mention_ids:
        return {}
    rows = (
        await session.execute(
            select(col(MentionQueryMatch.mention_id), col(MentionQueryMatch.query_id))
            .where(
                col(MentionQueryMatch.tenant_id) == tenant_id,
                col(MentionQueryMatch.mention_id).in_(mention_ids),
            )
            .order_by(col(MentionQueryMatch.created_at), col(MentionQueryMatch.id))
        )
    ).all()
    found: dict[str, list[str]] = {mid: [] for mid in mention_ids}
    for mention_id, query_id in rows:
        found[mention_id].append(query_id)
    return found


# --- CRUD -------------------------------------------------------------------------------------------


def to_read(row: ListeningQuery) -> ListeningQueryRead:
    """The API view of a listening query."""
    return ListeningQueryRead(
        id=row.id,
        name=row.name,
        kind=row.kind,
        expression=row.expression,
        normalised=str(compile_query(row.expression)),
        languages=_languages(row),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def create_query(
    session: AsyncSession, *, tenant_id: str, query_in: ListeningQueryCreate
) -> ListeningQueryRead:
    """Validate and store a new listening query."""
    _compile(query_in.expression)
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
    await session.commit()
    log.info("query.created", extra={"query_id": row.id, "tenant_id": tenant_id})
    return to_read(row)


async def get_query(session: AsyncSession, *, tenant_id: str, query_id: str) -> ListeningQueryRead:
    """One listening query of the tenant, or `ListeningQueryNotFound`."""
    row = await get_scoped(
        session, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    return to_read(row)


async def list_queries(
    session: AsyncSession, *, tenant_id: str, limit: int, cursor: str | None, kind: str | None = None
) -> ListeningQueryPage:
    """The tenant's listening queries, newest first."""
    stmt = scoped(ListeningQuery, tenant_id)
    if kind is not None:
        stmt = stmt.where(ListeningQuery.kind == kind)
    rows, next_cursor = await paginate(session, stmt, ListeningQuery, limit=limit, cursor=cursor)
    return ListeningQueryPage(items=[to_read(r) for r in rows], next_cursor=next_cursor)


async def update_query(
    session: AsyncSession, *, tenant_id: str, query_id: str, changes: ListeningQueryUpdate
) -> ListeningQueryRead:
    """Change a listening query; a new expression is validated first."""
    row = await get_scoped(
        session, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    fields = changes.model_dump(exclude_unset=True)
    if fields.get("expression") is not None:
        _compile(fields["expression"])
    for name, value in fields.items():
        if value is None and name != "languages":
            continue
        if name == "languages":
            row.languages = _fold_languages(value)
        else:
            setattr(row, name, value)
    row.updated_at = max(utcnow(), row.updated_at + timedelta(microseconds=1))  # always moves: cache key
    session.add(row)
    await session.commit()
    log.info("query.updated", extra={"query_id": row.id, "tenant_id": tenant_id})
    return to_read(row)


async def delete_query(session: AsyncSession, *, tenant_id: str, query_id: str) -> None:
    """Delete a listening query (its past matches and alerts stay)."""
    row = await get_scoped(
        session, ListeningQuery, tenant_id=tenant_id, id=query_id, error=ListeningQueryNotFound
    )
    await session.delete(row)
    await session.commit()
    log.info("query.deleted", extra={"query_id": query_id, "tenant_id": tenant_id})
