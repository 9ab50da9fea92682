"""What listening's suppression check adds to a group commit of the ingest API (mentions.suppression).

    .venv/bin/python bench/suppression.py [--posts 1000] [--listed 10000] [--runs 20]

On a throw-away SQLite database: `--listed` digests on one tenant's list; then the check of one batch of
`--posts` posts (`IngestBatcher._suppressed`) for a tenant with nobody listed (the common case: one
indexed statement, no hashing) and for the tenant with the list (the same statement, every author hashed
and looked up in the app's copy of the list, read once), and `is_suppressed` for a single post
(`ingest_mention`'s path: one primary-key lookup). Medians in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: E402

from services.listening.mentions import suppression  # noqa: E402
from services.listening.mentions.ingesting import IngestBatcher, IngestTraffic  # noqa: E402
from services.listening.mentions.schemas import MentionCreate  # noqa: E402
from services.listening.wakeups import Wakeups  # noqa: E402
from shared.db import create_engine  # noqa: E402
from tests.helpers import create_tables  # noqa: E402


async def main(posts: int, listed: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await create_tables(engine)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            digests = [suppression.digest("listed", "x", "handle", f"gone{i}") for i in range(listed)]
            await suppression.add(session, tenant_id="listed", digests=digests)
            await session.commit()
        batcher = IngestBatcher(sessions, traffic=IngestTraffic(), wakeups=Wakeups())
        for tenant in ("nobody", "listed"):
            batch = [
                (
                    tenant,
                    MentionCreate.model_validate(
                        {
                            "platform": "x",
                            "external_id": str(i),
                            "text": "hello",
                            "created_at": "2026-01-01T00:00:00Z",
                            "author": {"handle": f"@user{i}", "id": str(i)},
                        }
                    ),
                    None,
                    None,
                )
                for i in range(posts)
            ]
            took = []
            for _ in range(runs):
                async with sessions() as session:
                    started = time.perf_counter()
                    await batcher._suppressed(session, batch)  # type: ignore[arg-type]
                    took.append(time.perf_counter() - started)
            print(
                f"batch of {posts}, tenant with {listed if tenant == 'listed' else 0} listed: "
                f"{statistics.median(took) * 1000:.2f} ms"
            )
        took = []
        for i in range(runs * 10):
            async with sessions() as session:
                started = time.perf_counter()
                await suppression.is_suppressed(
                    session, tenant_id="listed", platform="x", handle=f"@user{i}", user_id=str(i)
                )
                took.append(time.perf_counter() - started)
        print(f"one post: {statistics.median(took) * 1000:.3f} ms")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--listed", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.listed, args.runs))
