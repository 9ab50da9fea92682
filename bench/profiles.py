"""Identity resolution at volume: mentions/s, CPU per mention and memory of profiles' resolution.

    .venv/bin/python bench/profiles.py                        # 100,000 mentions, 20,000 authors, SQLite
    .venv/bin/python bench/profiles.py --quick                # 10,000 mentions, 2,000 authors
    .venv/bin/python bench/profiles.py --db postgres          # on PostgreSQL (--pg-url)
    .venv/bin/python bench/profiles.py -n 1000 --batch 40 --look-alike --reanalyse 0.25
                                                              # authors as bench/cpu_per_mention.py posts

The mentions go directly through `resolve_mentions` (what profiles' consumer calls for each tenant of a
fetched batch), in batches of `--batch` (the consumer's fetch size, 64), each in one transaction as the
consumer runs it (BEGIN IMMEDIATE on SQLite), into a database migrated to head. Authors post with a
skewed frequency (a few often, most once or twice). Some share identifiers: a tenth post under a second
handle with the same platform user id (one profile, two handles), a twentieth also post on a second
platform under nearly the same name and handle (no shared identifier: a match suggestion), and names
come from a small pool, so blocking keys are shared widely (the candidate cap is what keeps suggestion
search bounded). Timed and CPU-counted around the resolution calls only (building the payloads is
not); peak memory is the process's maximum resident set (and, with --tracemalloc, Python's own peak
allocation, which slows the run). Other load on the machine lowers the figures.

`--look-alike` gives the mentions the authors `bench/cpu_per_mention.py` posts under: a third by ten
regulars (`@regular<i>`), the rest by one-off authors `@author-<run>-<i>` named alike, who all share a
handle stem and two name tokens (the worst case for match suggestions' blocking, and the stack bench's).
`--reanalyse F`: after each batch, a share F of the previous batch's mentions gets a new analysis through
`relabel_interactions` (what profiles' re-analyses consumer calls), each batch in one transaction, its
CPU counted apart (`reanalyse_cpu_ms_per_mention`, per mention of the run).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text  # noqa: E402

from services.profiles.logic.corrections import Relabel, relabel_interactions  # noqa: E402
from services.profiles.logic.resolution import resolve_mentions  # noqa: E402
from shared.db import begin_immediate, create_engine, session_factory  # noqa: E402
from shared.events.contracts import Analysis, Author, MentionReceived, Sentiment  # noqa: E402
from shared.migrations import upgrade_head  # noqa: E402

FIRST = ["sam", "ahmed", "lea", "mia", "noah", "omar", "sara", "yuki", "ivan", "lina", "tom", "ana"]
LAST = ["khan", "berg", "rossi", "kim", "silva", "novak", "meyer", "haddad", "tanaka", "lopez"]
LANGS = ["en", "de", "fr", "es", "ar", "ja"]
INTENTS = [
    ("praise", "positive", 0.7),
    ("complaint", "negative", -0.6),
    ("question", "neutral", 0.0),
    ("purchase_intent", "positive", 0.3),
    ("other", "neutral", 0.05),
]


class Authors:
    """The bench's authors: handles, platform user ids, second handles and second platforms."""

    def __init__(self, count: int, rng: random.Random) -> None:
        self.rng = rng
        self.rows: list[dict[str, Any]] = []
        for i in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            self.rows.append(
                {
                    "name": f"{first.title()} {last.title()}",
                    "handle": f"@{first}_{last}{i}",
                    "user_id": f"u{i}" if rng.random() < 0.6 else None,
                    "second_handle": f"@{first}{last}_{i}" if rng.random() < 0.1 else None,
                    "second_platform": rng.random() < 0.05,
                }
            )
        # Skewed: author i posts with weight 1/(i+1)^0.8 (a few often, most rarely).
        self.weights = [1 / (i + 1) ** 0.8 for i in range(count)]

    def pick(self, n: int) -> list[int]:
        chosen = self.rng.choices(range(len(self.rows)), weights=self.weights, k=n)
        # Every author posts at least once across the run: the first `count` picks are each author once.
        return chosen


def mention(index: int, author: dict[str, Any], rng: random.Random, start: datetime) -> MentionReceived:
    intent, label, score = rng.choice(INTENTS)
    platform, handle, user_id, name = "x", author["handle"], author["user_id"], author["name"]
    if author["second_handle"] and user_id and rng.random() < 0.5:
        handle = author["second_handle"]
    if author["second_platform"] and rng.random() < 0.3:
        platform, handle, user_id, name = "instagram", handle.lstrip("@").replace("_", "."), None, f"{name}."
    return MentionReceived(
        mention_id=f"m{index}",
        platform=platform,
        external_id=str(index),
        text=f"post number {index} about the kettle, " * 3,
        created_at=start + timedelta(seconds=index),
        author=Author(
            handle=handle,
            platform_user_id=user_id,
            display_name=name if rng.random() < 0.8 else None,
            followers=rng.randint(0, 50_000) if rng.random() < 0.7 else None,
            influence=round(rng.random() * 60, 1),
        ),
        analysis=Analysis(
            language=rng.choice(LANGS),
            sentiment=Sentiment(label=label, score=score),
            intent=intent,
        ),
    )


def look_alike(index: int, run: str, rng: random.Random, start: datetime) -> MentionReceived:
    """A mention as `bench/cpu_per_mention.py` posts them: a third by ten regulars, the rest one-offs."""
    handle = f"@regular{rng.randrange(10)}" if rng.random() < 1 / 3 else f"@author-{run}-{index}"
    intent, label, score = rng.choice(INTENTS)
    return MentionReceived(
        mention_id=f"m{index}",
        platform=rng.choice(["x", "x", "instagram", "facebook"]),
        external_id=str(index),
        text=f"post number {index} about the kettle, " * 3,
        created_at=start + timedelta(seconds=index),
        author=Author(handle=handle, display_name=handle.strip("@"), followers=rng.randint(0, 50_000)),
        analysis=Analysis(
            language=rng.choice(LANGS),
            sentiment=Sentiment(label=label, score=score),
            intent=intent,
        ),
    )


def reanalysed(batch: list[MentionReceived], share: float, rng: random.Random) -> list[Relabel]:
    """New analyses for a share of a batch's mentions."""
    out = []
    for m in batch:
        if rng.random() < share:
            intent, label, score = rng.choice(INTENTS)
            analysis = Analysis(
                language=m.analysis.language,
                sentiment=Sentiment(label=label, score=score),
                intent=intent,
            )
            out.append(Relabel(m.mention_id, analysis))
    return out


async def _pg_database(pg_url: str, *, drop: str | None = None) -> str:
    import asyncpg

    admin = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        if drop:
            await admin.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            return drop
        name = f"rapport_bench_profiles_{secrets.token_hex(4)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        return name
    finally:
        await admin.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-profiles-"))
    pg_name = None
    if args.db == "postgres":
        pg_name = await _pg_database(args.pg_url)
        url = f"{args.pg_url.replace('postgresql://', 'postgresql+asyncpg://').rstrip('/')}/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{folder / 'profiles.db'}"
    await asyncio.to_thread(upgrade_head, "profiles", url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    authors = Authors(args.authors, rng)
    # Each author once (shuffled), then the skewed rest.
    order = list(range(args.authors))
    rng.shuffle(order)
    order = (order + authors.pick(max(0, args.n - args.authors)))[: args.n]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    tenant_id = "bench-tenant"
    wall = cpu = reanalyse_cpu = 0.0
    statements = 0

    def counted(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    run_id = secrets.token_hex(4)
    previous: list[MentionReceived] = []
    if args.tracemalloc:
        tracemalloc.start()
    try:
        for offset in range(0, args.n, args.batch):
            batch = [
                look_alike(i, run_id, rng, start)
                if args.look_alike
                else mention(i, authors.rows[order[i]], rng, start)
                for i in range(offset, min(args.n, offset + args.batch))
            ]
            t0, c0 = time.perf_counter(), time.process_time()
            async with sessions() as session, session.begin():
                await begin_immediate(session)
                await resolve_mentions(session, tenant_id=tenant_id, mentions=batch)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            corrections = reanalysed(previous, args.reanalyse, rng) if args.reanalyse else []
            if corrections:
                c0 = time.process_time()
                async with sessions() as session, session.begin():
                    await begin_immediate(session)
                    await relabel_interactions(session, tenant_id=tenant_id, corrections=corrections)
                reanalyse_cpu += time.process_time() - c0
            previous = batch
            if args.progress and (offset // args.batch) % 200 == 0:
                print(f"  {offset + len(batch)} mentions, {wall:.1f} s", file=sys.stderr, flush=True)
        traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        async with engine.connect() as conn:

            async def count(sql: str) -> int:
                return int((await conn.execute(text(sql))).scalar_one())

            figures = {
                "database": args.db,
                "mentions": args.n,
                "authors": args.authors,
                "batch": args.batch,
                "mentions_per_s": round(args.n / wall, 1),
                "cpu_ms_per_mention": round(cpu / args.n * 1000, 3),
                "reanalyse_cpu_ms_per_mention": round(reanalyse_cpu / args.n * 1000, 3),
                "statements": statements,
                "wall_s": round(wall, 2),
                "profiles": await count("SELECT count(*) FROM profile WHERE merged_into IS NULL"),
                "merged_profiles": await count("SELECT count(*) FROM profile WHERE merged_into IS NOT NULL"),
                "identifiers": await count("SELECT count(*) FROM identifier"),
                "interactions": await count("SELECT count(*) FROM interaction"),
                "match_suggestions": await count("SELECT count(*) FROM match_suggestion"),
                "events_staged": await count("SELECT count(*) FROM outbox"),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
            if traced_peak is not None:
                figures["tracemalloc_peak_mb"] = round(traced_peak / 2**20, 1)
        return figures
    finally:
        await engine.dispose()
        if pg_name:
            await _pg_database(args.pg_url, drop=pg_name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100_000, help="mentions (default 100,000)")
    parser.add_argument("--authors", type=int, default=20_000, help="authors (default 20,000)")
    parser.add_argument(
        "--batch", type=int, default=64, help="mentions per batch (default 64, the fetch size)"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 mentions from 2,000 authors")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--look-alike", action="store_true", help="authors as bench/cpu_per_mention.py's")
    parser.add_argument(
        "--reanalyse", type=float, default=0.0, help="share of each batch re-analysed after it (default 0)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also Python's peak allocation (slower)")
    parser.add_argument("--progress", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.authors = 10_000, 2_000
    args.authors = min(args.authors, args.n)
    return args


def main(argv: list[str] | None = None) -> int:
    figures = asyncio.run(run(parse_args(argv)))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
