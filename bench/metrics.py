"""Metrics at scale: events folded per second, and the scorecard's latency for a tenant with a year of
mentions.

    .venv/bin/python -m bench.metrics                                  # 10,000,000 mentions, SQLite
    .venv/bin/python -m bench.metrics --mentions 1000000 --runs 10
    .venv/bin/python -m bench.metrics --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/mbench

(a) Folding: `--fold` events of each kind are folded through `services.metrics.logic.facts` (the
consumers' batch handlers: `on_listening`, `on_engagement`, `on_profiles`) in batches of 64 (the bus's
fetch batch), one transaction per batch as `handle_set` runs them. The events are parsed beforehand
(from their JSON, as the bus does); the figure is the fold and its commit. Printed: events/s per kind.

(b) Scale: one tenant's `--mentions` mentions spread evenly over the year before the end of the current
hour, written directly into metrics' tables (SQLite: one transaction, `executemany`, journal off while
seeding; PostgreSQL: COPY), with proportionate rows: 1.4 listening-query matches a mention (brand,
competitor, topic), one conversation per 50 mentions (opened by one of them; answered, resolved, SLA
deadlines, a team and an agent), a survey answer per 5 conversations, a profile per 20 mentions, an
order per 100 mentions, an alert per day; the mention counts and the day summaries are then computed
from those rows (`rollups.backfill`, `summaries.backfill`, as the migrations do). Then
`services.metrics.logic.card` is timed as the routes call it, on the service's own reader: the
scorecard over the year, over months and days (windows taken at random through the year), with a
platform filter and a query filter over a month, and two time series.
Printed per case: runs, p50 and p99 (nearest rank) in ms.

The database (`--database-url`, default a SQLite file in a temporary directory) gets metrics' tables
dropped and created afresh: give PostgreSQL a database of its own (`createdb -h 127.0.0.1 -U postgres
mbench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from services.metrics import models
from services.metrics.logic import card, facts, rollups, summaries
from shared.db import create_engine, session_factory
from shared.events.contracts import Contract
from shared.events.envelope import CloudEvent, Event, event_model
from shared.reads import Reader, create_reader

TENANT = "bench"
FOLD_TENANT = "fold"
BATCH = 64
YEAR = timedelta(days=365)
PLATFORMS = ("x", "instagram", "facebook", "reddit", "youtube", "tiktok")
PLATFORM_WEIGHTS = (40, 20, 15, 10, 10, 5)
LANGUAGES = ("en", "de", "fr", "es", "tr", "it")
LANGUAGE_WEIGHTS = (50, 15, 12, 10, 8, 5)
SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "praise", "purchase_intent", "other")
CHANNELS = (None, "ch-x", "ch-ig", "ch-fb", "ch-wa")
QUERIES = (
    ("q-brand", "brand"),
    ("q-rival-1", "competitor"),
    ("q-rival-2", "competitor"),
    ("q-topic", "topic"),
)
TEAMS = ("team-a", "team-b", "team-c", "team-d")
AGENTS = tuple(f"agent-{i:02d}" for i in range(20))
STAGES = ("stranger", "fan", "lead", "customer", "advocate")

METRICS_TABLES = [
    m.__table__  # type: ignore[union-attr]
    for m in (
        models.MentionFact,
        models.MentionQueryFact,
        models.MentionHashtagFact,
        models.AlertFact,
        models.ConversationFact,
        models.SurveyFact,
        models.ProfileFact,
        models.OrderFact,
        models.ErasedProfile,
        models.MentionCount,
        models.DayCount,
        models.SlaCount,
        models.DurationSet,
        models.ClvTotal,
    )
]


def log(message: str) -> None:
    print(message, flush=True)


# --- (a) folding ----------------------------------------------------------------------------------


def _event(kind: str, data: dict[str, Any], at: datetime, n: int) -> Event[Contract]:
    raw = CloudEvent(
        id=f"e-{kind}-{n}", source="/rapport/bench", type=kind, time=at, tenantid=FOLD_TENANT, data=data
    ).to_bytes()
    return event_model(Contract).model_validate_json(raw)


def _analysis(rnd: random.Random) -> dict[str, Any]:
    label = rnd.choice(SENTIMENTS)
    score = {"negative": -0.6, "neutral": 0.0, "positive": 0.7}[label]
    return {
        "language": rnd.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
        "sentiment": {"label": label, "score": score},
        "intent": rnd.choice(INTENTS),
    }


def fold_events(n: int, start: datetime) -> dict[str, tuple[str, list[Event[Contract]]]]:
    """`n` events of each kind metrics folds, in the order a tenant's streams would carry them."""
    rnd = random.Random(7)
    out: dict[str, tuple[str, list[Event[Contract]]]] = {}
    received, reanalysed, redacted = [], [], []
    opened, responded, resolved, surveys = [], [], [], []
    created, orders = [], []
    for i in range(n):
        at = start + timedelta(seconds=30 * i)
        mid, platform = f"fm{i:08d}", rnd.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        queries = [{"query_id": q, "kind": k} for q, k in QUERIES if rnd.random() < 0.35] or [
            {"query_id": "q-brand", "kind": "brand"}
        ]
        analysis = _analysis(rnd)
        received.append(
            _event(
                "listening.mention.received",
                {
                    "mention_id": mid,
                    "platform": platform,
                    "external_id": f"x{i}",
                    "text": "Kettlr boils in a minute",
                    "created_at": at.isoformat(),
                    "author": {"handle": f"user{i % 5000}"},
                    "analysis": analysis,
                    "matched_query_ids": [q["query_id"] for q in queries],
                    "matched_queries": queries,
                    "channel_id": rnd.choice(CHANNELS),
                },
                at,
                i,
            )
        )
        reanalysed.append(
            _event(
                "listening.mention.reanalysed",
                {
                    "mention_id": mid,
                    "created_at": at.isoformat(),
                    "previous": analysis,
                    "analysis": _analysis(rnd),
                    "reason": "quality",
                },
                at + timedelta(minutes=5),
                i,
            )
        )
        redacted.append(
            _event(
                "listening.mention.redacted",
                {
                    "mention_id": mid,
                    "platform": platform,
                    "created_at": at.isoformat(),
                    "reason": "deleted",
                    "analysis": analysis,
                },
                at + timedelta(days=1),
                i,
            )
        )
        cid, pid = f"fc{i:08d}", f"fp{i:08d}"
        opened.append(
            _event(
                "engagement.conversation.opened",
                {
                    "conversation_id": cid,
                    "profile_id": pid,
                    "mention_id": mid,
                    "priority": "normal",
                    "assignee_id": rnd.choice(AGENTS),
                    "opened_at": at.isoformat(),
                    "first_response_due_at": (at + timedelta(hours=1)).isoformat(),
                    "resolution_due_at": (at + timedelta(hours=24)).isoformat(),
                    "team_id": rnd.choice(TEAMS),
                },
                at,
                i,
            )
        )
        responded.append(
            _event(
                "engagement.conversation.first_responded",
                {
                    "conversation_id": cid,
                    "message_id": f"msg{i}",
                    "origin": "agent",
                    "opened_at": at.isoformat(),
                    "responded_at": (at + timedelta(minutes=20)).isoformat(),
                },
                at + timedelta(minutes=20),
                i,
            )
        )
        resolved.append(
            _event(
                "engagement.conversation.status_changed",
                {
                    "conversation_id": cid,
                    "profile_id": pid,
                    "from_status": "open",
                    "to_status": "resolved",
                    "cause": "agent",
                    "changed_at": (at + timedelta(hours=3)).isoformat(),
                },
                at + timedelta(hours=3),
                i,
            )
        )
        surveys.append(
            _event(
                "engagement.survey.answered",
                {
                    "survey_id": f"fs{i:08d}",
                    "conversation_id": cid,
                    "profile_id": pid,
                    "kind": "csat",
                    "score": rnd.randint(1, 5),
                    "via": "link",
                    "answered_at": (at + timedelta(hours=4)).isoformat(),
                },
                at + timedelta(hours=4),
                i,
            )
        )
        created.append(_event("profiles.profile.created", {"profile_id": pid, "platform": platform}, at, i))
        orders.append(
            _event(
                "profiles.profile.updated",
                {
                    "profile_id": pid,
                    "changed": ["order_count", "lifetime_value"],
                    "profile": {
                        "profile_id": pid,
                        "lifecycle_stage": "customer",
                        "lifetime_value": {"EUR": "42.00"},
                    },
                },
                at + timedelta(days=2),
                i,
            )
        )
    out["listening.mention.received"] = ("listening", received)
    out["listening.mention.reanalysed"] = ("listening", reanalysed)
    out["engagement.conversation.opened"] = ("engagement", opened)
    out["engagement.conversation.first_responded"] = ("engagement", responded)
    out["engagement.conversation.status_changed"] = ("engagement", resolved)
    out["engagement.survey.answered"] = ("engagement", surveys)
    out["profiles.profile.created"] = ("profiles", created)
    out["profiles.profile.updated (order)"] = ("profiles", orders)
    out["listening.mention.redacted"] = ("listening", redacted)
    return out


HANDLERS = {"listening": facts.on_listening, "engagement": facts.on_engagement, "profiles": facts.on_profiles}


async def bench_folding(engine: AsyncEngine, n: int, end: datetime) -> None:
    log(f"(a) folding {n} events of each kind, batches of {BATCH}, one transaction per batch")
    sessions = session_factory(engine)
    for kind, (stream, events) in fold_events(n, end - timedelta(days=30)).items():
        handler = HANDLERS[stream]
        wall, cpu = time.perf_counter(), time.process_time()
        for b in range(0, len(events), BATCH):
            async with sessions() as session, session.begin():
                await handler(session, events[b : b + BATCH])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        log(f"    {kind:42s} {n / wall:8.0f} events/s   ({cpu / n * 1e6:.0f} µs CPU an event)")


# --- (b) seeding ----------------------------------------------------------------------------------


def _columns(model: Any) -> list[str]:
    return [c.name for c in model.__table__.columns]


class Seeder:
    """Rows into one table at a time, in chunks: `executemany` on SQLite, COPY on PostgreSQL."""

    def __init__(self, url: str, path: str | None) -> None:
        self.url, self.path = url, path
        self.sqlite: sqlite3.Connection | None = None
        self.pg: Any = None

    async def __aenter__(self) -> Seeder:
        if self.path is not None:
            self.sqlite = sqlite3.connect(self.path, isolation_level=None)
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-400000", "temp_store=MEMORY"):
                self.sqlite.execute(f"PRAGMA {pragma}")
            self.sqlite.execute("BEGIN")
        else:
            import asyncpg

            dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
            self.pg = await asyncpg.connect(dsn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")
            self.sqlite.execute("PRAGMA journal_mode=WAL")
            self.sqlite.execute("ANALYZE")
            self.sqlite.close()
        else:
            for table in METRICS_TABLES:
                await self.pg.execute(f"ANALYZE {table.name}")
            await self.pg.close()

    async def write(self, model: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        table, names = model.__tablename__, _columns(model)
        if self.sqlite is not None:
            marks = ", ".join("?" for _ in names)
            self.sqlite.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",  # noqa: S608 (the bench's own tables)
                [tuple(_sqlite(v) for v in r) for r in rows],
            )
        else:
            records = [tuple(json.dumps(v) if isinstance(v, dict) else v for v in r) for r in rows]
            await self.pg.copy_records_to_table(table, records=records, columns=names)


def _sqlite(value: Any) -> Any:
    # How SQLAlchemy's SQLite dialect stores `UTCDateTime` (UTC, no offset, microseconds always).
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _moment(start: datetime, i: int, n: int) -> datetime:
    return start + timedelta(seconds=YEAR.total_seconds() * i / n)


def mention_rows(n: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(1)
    platforms = rnd.choices(PLATFORMS, PLATFORM_WEIGHTS, k=1000)
    languages = rnd.choices(LANGUAGES, LANGUAGE_WEIGHTS, k=1000)
    for i in range(n):
        at = _moment(start, i, n)
        j = rnd.randrange(1000)
        # tenant_id, mention_id, created_at, platform, channel_id, language, sentiment, intent, analysed_at,
        # removed_at (one in 500 removed)
        yield (
            TENANT,
            f"m{i:09d}",
            at,
            platforms[j],
            CHANNELS[i % 5],
            languages[(j * 7 + i) % 1000],
            SENTIMENTS[(i * 7 + j) % 3],
            INTENTS[(i + j) % 5],
            at,
            at + timedelta(hours=2) if i % 500 == 0 else None,
        )


def query_rows(n: int) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(2)
    for i in range(n):
        mid = f"m{i:09d}"
        r = rnd.random()
        yield (TENANT, mid, "q-brand", "brand")
        if r < 0.25:
            yield (TENANT, mid, "q-rival-1", "competitor")
        elif r < 0.35:
            yield (TENANT, mid, "q-rival-2", "competitor")
        if r > 0.95 or r < 0.05:
            yield (TENANT, mid, "q-topic", "topic")


def conversation_rows(n: int, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(3)
    for k, i in enumerate(range(0, n, 50)):
        opened = _moment(start, i, n)
        answered = opened + timedelta(minutes=rnd.randint(1, 600))
        resolved = answered + timedelta(minutes=rnd.randint(10, 3000))
        fr_due, res_due = opened + timedelta(hours=2), opened + timedelta(hours=24)
        open_ = resolved >= end or k % 40 == 0
        reopened = 1 if k % 17 == 0 else 0
        # The model's column order.
        yield (
            TENANT,
            f"c{k:08d}",
            opened,
            f"p{(i // 20):08d}",
            f"m{i:09d}",
            "normal",
            TEAMS[k % 4],
            AGENTS[k % 20],
            opened,
            answered if answered < end else None,
            None if open_ else resolved,
            None if open_ else resolved,
            "open" if open_ else "resolved",
            opened if open_ else resolved,
            reopened,
            fr_due,
            res_due,
            answered > fr_due,
            resolved > res_due,
            None,
            None,  # on the wall clock: no business-hours durations
            None,
        )


def survey_rows(n: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(4)
    for k, i in enumerate(range(0, n, 250)):
        at = _moment(start, i, n) + timedelta(hours=6)
        kind = "csat" if k % 3 else "nps"
        score = rnd.randint(1, 5) if kind == "csat" else rnd.randint(0, 10)
        c = k * 5
        yield (
            TENANT,
            f"s{k:08d}",
            kind,
            score,
            f"c{c:08d}",
            f"p{(c * 50 // 20):08d}",
            AGENTS[c % 20],
            CHANNELS[(c * 50) % 5],
            "x",
            at,
        )


def profile_rows(n: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    for k, i in enumerate(range(0, n, 20)):
        seen = _moment(start, i, n)
        ordered = k % 5 == 0
        platform = "partner:crm" if k % 50 == 0 else PLATFORMS[k % 6]
        yield (
            TENANT,
            f"p{k:08d}",
            seen,
            platform,
            STAGES[3] if ordered else STAGES[k % 3],
            seen,
            {"EUR": f"{(k % 300) + 19}.90"} if ordered else {},
            seen + timedelta(days=3) if ordered else None,
            None,
            None,
            seen,  # its own first sighting (no merges here)
            platform,
        )


def order_rows(n: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    for k, i in enumerate(range(0, n, 100)):
        owner = f"p{k * 5:08d}"
        at = _moment(start, i, n) + timedelta(days=k % 40)
        yield (TENANT, f"o{k:08d}", owner, owner, at)


def alert_rows(start: datetime) -> Iterator[tuple[Any, ...]]:
    for d in range(365):
        yield (TENANT, f"a{d:04d}", "q-brand", "volume_spike", start + timedelta(days=d, hours=9))


async def seed(url: str, path: str | None, n: int, start: datetime, end: datetime) -> None:
    log(f"(b) seeding {n:,} mentions over {start:%Y-%m-%d} .. {end:%Y-%m-%d %H:%M} UTC")
    t0 = time.perf_counter()
    tables: list[tuple[Any, Iterator[tuple[Any, ...]]]] = [
        (models.MentionFact, mention_rows(n, start)),
        (models.MentionQueryFact, query_rows(n)),
        (models.ConversationFact, conversation_rows(n, start, end)),
        (models.SurveyFact, survey_rows(n, start)),
        (models.ProfileFact, profile_rows(n, start)),
        (models.OrderFact, order_rows(n, start)),
        (models.AlertFact, alert_rows(start)),
    ]
    async with Seeder(url, path) as seeder:
        for model, rows in tables:
            t, count = time.perf_counter(), 0
            for chunk in _chunks(rows):
                await seeder.write(model, chunk)
                count += len(chunk)
                if count % 1_000_000 < len(chunk):
                    log(f"    {model.__tablename__}: {count:,} rows, {time.perf_counter() - t:.0f} s")
            log(f"    {model.__tablename__}: {count:,} rows in {time.perf_counter() - t:.1f} s")
        log("    committing and analysing ...")
    t = time.perf_counter()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(rollups.backfill)
    await engine.dispose()
    log(f"    mention_count computed from the rows (rollups.backfill) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(summaries.backfill)
    await engine.dispose()
    log(f"    day summaries computed from the rows (summaries.backfill) in {time.perf_counter() - t:.1f} s")
    log(f"    seeded in {time.perf_counter() - t0:.0f} s")


# --- (b) timing -----------------------------------------------------------------------------------


def nearest(values: Sequence[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1]


async def timed(
    name: str, make: Callable[[random.Random], Awaitable[Any]], runs: int, budget: float
) -> tuple[float, float]:
    rnd = random.Random(name)
    await make(rnd)  # warm: plans compiled, pages cached
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < runs and (len(times) < 3 or time.perf_counter() - started < budget):
        t = time.perf_counter()
        await make(rnd)
        times.append((time.perf_counter() - t) * 1000)
    p50, p99 = nearest(times, 50), nearest(times, 99)
    log(f"    {name:52s} runs {len(times):3d}   p50 {p50:9.1f} ms   p99 {p99:9.1f} ms")
    return p50, p99


async def _care_and_customer(reader: Reader, f: card.Filters) -> Any:
    """The scorecard's care and customer parts alone (what the day summaries serve)."""
    return await card.care_figures(reader, TENANT, f), await card.customer_figures(reader, TENANT, f)


async def bench_queries(reader: Reader, end: datetime, runs: int, budget: float) -> None:
    log(f"(b) card.py on the reader: up to {runs} runs a case (at least 3, at most ~{budget:.0f} s a case)")
    year = card.Filters(to=end, from_=end - YEAR)

    def window(rnd: random.Random, length: timedelta) -> card.Filters:
        start = end - YEAR + timedelta(seconds=rnd.uniform(0, (YEAR - length).total_seconds()))
        start = start.replace(minute=0, second=0, microsecond=0)
        return card.Filters(to=start + length, from_=start, measured_at=end)

    month, day = timedelta(days=30), timedelta(days=1)
    cases: list[tuple[str, Callable[[random.Random], Awaitable[Any]]]] = [
        ("scorecard, year", lambda rnd: card.scorecard(reader, TENANT, year)),
        ("scorecard, a month", lambda rnd: card.scorecard(reader, TENANT, window(rnd, month))),
        ("scorecard, a day", lambda rnd: card.scorecard(reader, TENANT, window(rnd, day))),
        (
            "scorecard, a month, platform=instagram",
            lambda rnd: card.scorecard(reader, TENANT, replace(window(rnd, month), platform="instagram")),
        ),
        (
            "scorecard, a month, query=q-rival-1",
            lambda rnd: card.scorecard(reader, TENANT, replace(window(rnd, month), query="q-rival-1")),
        ),
        (
            "scorecard, year, language=de",
            lambda rnd: card.scorecard(reader, TENANT, replace(year, language="de")),
        ),
        (
            "care and customer figures, year",
            lambda rnd: _care_and_customer(reader, year),
        ),
        (
            "care and customer figures, a month",
            lambda rnd: _care_and_customer(reader, window(rnd, month)),
        ),
        (
            "timeseries mentions per day, a month",
            lambda rnd: card.series(reader, TENANT, "mentions", "day", window(rnd, month)),
        ),
        (
            "timeseries net_sentiment per week, year",
            lambda rnd: card.series(reader, TENANT, "net_sentiment", "week", year),
        ),
    ]
    for name, make in cases:
        await timed(name, make, runs, budget)


# --- main -----------------------------------------------------------------------------------------


async def fresh_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.drop_all(sync, tables=METRICS_TABLES))
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=METRICS_TABLES))


async def run(url: str, args: argparse.Namespace) -> None:
    end = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    path = url.split("///", 1)[1] if url.startswith("sqlite") else None
    if not args.reuse:
        engine = create_engine(url)
        await fresh_tables(engine)
        if args.fold:
            await bench_folding(engine, args.fold, end)
        await engine.dispose()
        if args.mentions:
            await seed(url, path, args.mentions, end - YEAR, end)
    if args.mentions:
        engine = create_engine(url)
        reader = create_reader(engine)
        await bench_queries(reader, end, args.runs, args.budget)
        await reader.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=10_000_000, help="mentions of the tenant (0: skip)")
    parser.add_argument("--fold", type=int, default=5000, help="events folded per kind (0: skip)")
    parser.add_argument("--runs", type=int, default=30, help="runs per timed case (default 30)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per timed case before it stops")
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql+asyncpg://... or sqlite+aiosqlite:///file (default: SQLite, a temporary file)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the queries on what a previous run seeded in --database-url (no folding or seeding)",
    )
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'metrics.sqlite'}", args))


if __name__ == "__main__":
    main()
