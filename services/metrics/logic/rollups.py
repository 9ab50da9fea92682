"""Mentions counted per hour and per day (`MentionCount`), kept beside the mention rows so that the
scorecard's listening figures over a long period read a few hundred counts instead of every mention.

The counts are exact, never estimated: a mention adds 1 to its hour and its day, for each of its field
values (sentiment, language, intent, platform, each of its brand and competitor matches by kind, each
topic query it matched by id, each of its hashtags), once among all mentions and once under each filter
it passes (its platform, channel, language, and each listening
query it matched). Folding keeps them in the transaction that changes the mention rows: the listening
batch's mentions are counted as they stand before the batch and after it, and the difference is added
(`facts.on_listening`, `apply`), so a reanalysis moves a mention between values, a removal takes it out, and a
duplicated or late event changes nothing, whatever the order of the batch's events.

`backfill` computes them from the rows (a migration, a database seeded directly).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.logic.rows import by_tenant, named
from services.metrics.models import MentionCount
from shared.db import lock_tenant
from shared.events.contracts import Contract
from shared.events.envelope import Event

FIELDS = ("sentiment", "language", "intent", "platform")
SHARE_KINDS = ("brand", "competitor")
MENTION_EVENTS = frozenset(
    {
        "listening.mention.received",
        "listening.mention.reanalysed",
        "listening.mention.edited",
        "listening.mention.redacted",
    }
)
CHUNK = 500

# (tenant_id, filter, hour, field, value) → how many.
Key = tuple[str, str, datetime, str, str]


def select_(*columns: Any) -> Any:
    """`select` over model attributes (typed loosely: the rows are read as tuples)."""
    return select(*columns)


def utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    return hour_of(moment).replace(hour=0)


def filter_of(name: str, value: str | None) -> str:
    """The `filter` a scorecard filter reads (`platform`, `channel`, `language`, `query`)."""
    return f"{name}:{value}"


def contribution(
    tenant_id: str,
    mention: Any,
    matches: Sequence[tuple[str, str]],
    tags: Sequence[str],
    into: Counter[Key],
    sign: int = 1,
) -> None:
    """What one live mention (its row) with its (query id, kind) matches and its hashtags adds to the
    counts (`sign` -1: takes away)."""
    hour = hour_of(mention.created_at)
    filters = ["", filter_of("platform", mention.platform), filter_of("language", mention.language)]
    if mention.channel_id is not None:
        filters.append(filter_of("channel", mention.channel_id))
    filters.extend(filter_of("query", qid) for qid, _ in matches)
    values = [(name, getattr(mention, name)) for name in FIELDS]
    values.extend(("kind", kind) for _, kind in matches if kind in SHARE_KINDS)
    values.extend(("topic", qid) for qid, kind in matches if kind == "topic")
    values.extend(("hashtag", tag) for tag in tags)
    for f in filters:
        for name, value in values:
            into[(tenant_id, f, hour, name, value)] += sign


def touched(events: Iterable[Event[Contract]]) -> dict[str, set[str]]:
    """The mentions a listening batch may change, per tenant."""
    return by_tenant(events, lambda e: named(e, "mention_id") if e.type in MENTION_EVENTS else set())


async def lock(session: AsyncSession, wanted: dict[str, set[str]]) -> None:
    """On PostgreSQL the tenant's listening batches are serialised from here to the commit (two replicas
    folding the same mention at once would each count it from the same "before")."""
    for tenant_id in sorted(wanted):
        await lock_tenant(session, "metrics.mention_count", tenant_id)


KEYS = ("tenant_id", "filter", "span", "start", "field", "value")
_table: Any = MentionCount.__table__  # type: ignore[attr-defined]
_EMPTIED = _table.delete().where(*(_table.c[k] == bindparam(k) for k in KEYS), _table.c.n == 0)


@functools.cache
def _upsert(dialect: str) -> Any:
    """Add `n` to a count, or insert it (built once per dialect)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_table)
    return stmt.on_conflict_do_update(index_elements=list(KEYS), set_={"n": _table.c.n + stmt.excluded.n})


async def apply(session: AsyncSession, change: Counter[Key]) -> None:
    """Add to the hourly and daily counts what a batch changed (per hour: what its mentions add after it
    less what they added before)."""
    delta: Counter[tuple[str, str, str, datetime, str, str]] = Counter()
    for (tenant_id, f, hour, name, value), n in change.items():
        if n:
            delta[(tenant_id, f, "h", hour, name, value)] += n
            delta[(tenant_id, f, "d", hour.replace(hour=0), name, value)] += n
    if delta:
        rows = [
            {"tenant_id": t, "filter": f, "span": s, "start": at, "field": name, "value": v, "n": n}
            for (t, f, s, at, name, v), n in sorted(delta.items())
            if n
        ]
        await session.execute(_upsert(session.get_bind().dialect.name), rows)
        # A count back at zero goes: its value may be a word of a removed post's text (a hashtag).
        fallen = [dict(zip(KEYS, key, strict=True)) for key, n in sorted(delta.items()) if n < 0]
        if fallen:
            await session.execute(_EMPTIED, fallen)


# --- backfill -------------------------------------------------------------------------------------


def _bucket(dialect: str, span: str, column: str) -> str:
    if dialect == "postgresql":
        unit = "hour" if span == "h" else "day"
        return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # SQLite keeps the UTC time as text: '2026-12-06 16:42:02.123456'.
    if span == "h":
        return f"(substr({column}, 1, 13) || ':00:00.000000')"
    return f"(substr({column}, 1, 10) || ' 00:00:00.000000')"


FILTERS_SQL = {
    "": ("''", "", ""),
    "platform": ("'platform:' || m.platform", "", ""),
    "language": ("'language:' || m.language", "", ""),
    "channel": ("'channel:' || m.channel_id", "", " AND m.channel_id IS NOT NULL"),
    "query": (
        "'query:' || fq.query_id",
        " JOIN mention_query_fact fq ON fq.tenant_id = m.tenant_id AND fq.mention_id = m.mention_id",
        "",
    ),
}


# The counted values that come from another table: (value, join).
JOINED_SQL = {
    "kind": (
        "k.kind",
        " JOIN mention_query_fact k ON k.tenant_id = m.tenant_id"
        " AND k.mention_id = m.mention_id AND k.kind IN ('brand', 'competitor')",
    ),
    "topic": (
        "t.query_id",
        " JOIN mention_query_fact t ON t.tenant_id = m.tenant_id"
        " AND t.mention_id = m.mention_id AND t.kind = 'topic'",
    ),
    "hashtag": (
        "g.tag",
        " JOIN mention_hashtag_fact g ON g.tenant_id = m.tenant_id AND g.mention_id = m.mention_id",
    ),
}


def backfill(conn: Connection, tenant_id: str | None = None) -> None:
    """Compute the counts from the mention rows (every tenant's, or one's), replacing what is there."""
    dialect = conn.dialect.name
    tenant_where = "" if tenant_id is None else " AND m.tenant_id = :tenant"
    params = {} if tenant_id is None else {"tenant": tenant_id}
    if tenant_id is None:
        conn.execute(text("DELETE FROM mention_count"))
    else:
        conn.execute(text("DELETE FROM mention_count WHERE tenant_id = :tenant"), params)
    bucket = _bucket(dialect, "h", "m.created_at")
    for filter_expr, filter_join, filter_where in FILTERS_SQL.values():
        for name in (*FIELDS, *JOINED_SQL):
            value, join = f"m.{name}", filter_join
            if name in JOINED_SQL:
                value, joined = JOINED_SQL[name]
                join += joined
            # Every piece of this statement is one of the constants above.
            sql = (
                "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
                f"SELECT m.tenant_id, {filter_expr}, 'h', {bucket}, '{name}', {value}, count(*) "
                f"FROM mention_fact m{join} WHERE m.removed_at IS NULL{filter_where}{tenant_where} "
                "GROUP BY 1, 2, 4, 6"
            )
            conn.execute(text(sql), params)
    # The days from the hours.
    day = _bucket(dialect, "d", "start")
    conn.execute(
        text(
            "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
            f"SELECT tenant_id, filter, 'd', {day}, field, value, sum(n) FROM mention_count "
            f"WHERE span = 'h'{tenant_where.replace('m.', '')} GROUP BY 1, 2, 4, 5, 6"
        ),
        params,
    )


def whole_spans(
    start: datetime | None, end: datetime
) -> tuple[list[tuple[datetime | None, datetime]], list[tuple[str, datetime | None, datetime]]]:
    """[start, end) cut into the pieces the mention rows must give (a part hour at either end) and the
    whole hours and days the counts give: (row pieces, [(span, from, to)])."""
    rows: list[tuple[datetime | None, datetime]] = []
    counted: list[tuple[str, datetime | None, datetime]] = []
    last_hour = hour_of(end)
    if start is None:
        counted.append(("d", None, day_of(end)))
        if day_of(end) < last_hour:
            counted.append(("h", day_of(end), last_hour))
    else:
        first_hour = start if start == hour_of(start) else hour_of(start) + timedelta(hours=1)
        if first_hour >= last_hour:
            return [(start, end)], []
        if start < first_hour:
            rows.append((start, first_hour))
        first_day = first_hour if first_hour == day_of(first_hour) else day_of(first_hour) + timedelta(days=1)
        last_day = day_of(last_hour)
        if first_day < last_day:
            if first_hour < first_day:
                counted.append(("h", first_hour, first_day))
            counted.append(("d", first_day, last_day))
            if last_day < last_hour:
                counted.append(("h", last_day, last_hour))
        else:
            counted.append(("h", first_hour, last_hour))
    if last_hour < end:
        rows.append((last_hour, end))
    return rows, counted
