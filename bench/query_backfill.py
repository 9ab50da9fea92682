"""Listening-query backfill and re-sync throughput, in process, on a temporary SQLite database.

.venv/bin/python -m bench.query_backfill [--mentions 20000] [--batch 200] [--resyncs 2000]   (repo root)

Stores `--mentions` analysed posts of one tenant (30 days, the templates of bench.listening_query), creates
a listening query matching about one post in ten, then runs the backfill task's batches
(queries.backfill.backfill_step) until the pass is done: posts scanned per second (wall clock, one process).
Then re-syncs `--resyncs` matched posts one transaction each, as listening's own consumer does after a
correction (queries.logic.resync_mention): re-syncs per second. Other load on the machine lowers both.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlmodel import col

from bench.listening_query import mentions
from services.listening import models
from services.listening.models import ListeningQuery, Mention, MentionQueryMatch, QueryBackfill, new_id
from services.listening.queries.backfill import backfill_step
from services.listening.queries.logic import QueryMatcher, resync_mention
from services.listening.settings import ListeningSettings
from shared.db import create_engine, session_factory, utcnow
from tests.helpers import create_tables

TENANT = "bench-tenant"


async def run(n: int, batch: int, resyncs: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'listening.db'}")
        await create_tables(engine)
        sessions = session_factory(engine)
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "tenant_id": TENANT,
                "platform": platform,
                "external_id": f"post-{i}",
                "text": text,
                "created_at": now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
                "received_at": now,
                "author_handle": author,
                "analysis_status": "analysed",
                "language": language,
                "sentiment_label": rng.choice(["negative", "neutral", "positive"]),
                "intent": "other",
                "needs_rescore": False,
                "low_confidence": False,
                "sketch": "",
            }
            for i, (text, language, platform, author) in enumerate(mentions(n, rng))
        ]
        async with sessions() as session:
            for start in range(0, n, 5000):
                await session.execute(insert(models.Mention), rows[start : start + 5000])
            query = ListeningQuery(tenant_id=TENANT, name="q", kind="brand", expression="ikea OR puma")
            session.add(query)
            session.add(QueryBackfill(query_id=query.id, tenant_id=TENANT))
            await session.commit()

        started = time.perf_counter()
        steps = 0
        matcher = QueryMatcher(budget_s=ListeningSettings().query_match_budget_ms / 1000)
        write_lock = asyncio.Lock()
        while await backfill_step(
            sessions, write_lock=write_lock, batch=batch, days=31, budget_s=matcher.budget_s
        ):
            steps += 1
        elapsed = time.perf_counter() - started
        async with sessions() as session:
            job = await session.get(QueryBackfill, query.id)
            assert job is not None and job.status == "done"
            matched = (
                await session.execute(select(func.count()).where(col(MentionQueryMatch.query_id) == query.id))
            ).scalar_one()
            ids = list(
                (await session.execute(select(col(MentionQueryMatch.mention_id)).limit(resyncs))).scalars()
            )
        print(
            f"backfill: {job.scanned} posts scanned, {matched} matched, in {steps} batches of {batch}: "
            f"{elapsed:.2f} s, {job.scanned / elapsed:,.0f} posts/s"
        )

        started = time.perf_counter()
        for mention_id in ids:
            async with sessions() as session:
                await session.execute(
                    Mention.__table__.update()  # type: ignore[attr-defined]
                    .where(Mention.__table__.c.id == mention_id)  # type: ignore[attr-defined]
                    .values(sentiment_label="negative")
                )
                await resync_mention(session, matcher=matcher, tenant_id=TENANT, mention_id=mention_id)
                await session.commit()
        elapsed = time.perf_counter() - started
        print(f"resync: {len(ids)} corrected posts, one transaction each: {len(ids) / elapsed:,.0f} posts/s")
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--resyncs", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(run(args.mentions, args.batch, args.resyncs))


if __name__ == "__main__":
    main()
