"""Listening's CPU per mention beside its analysis, in one process: ingest, storing analyses, re-scores.

    PYTHONPATH=$PWD .venv/bin/python bench/listening_plumbing.py -n 1000

No HTTP, no broker, no other service: a fresh SQLite database (migrated), a brand query, and N of the
labelled posts (a third naming the brand, a third by ten regular authors) submitted to the ingest group
commit from 8 concurrent callers, one post each; then the analysis worker's batches with the fast tier
(as after a burst) and its quality re-scores until none is left. CPU is the process's (every thread),
minus the analysis worker's own count of its analysing thread (`analysis_cpu_s`), per mention, for each
phase. The last line is a digest of what was stored (groups, analyses, flags) and the outbox's events by
type, so that two trees can be checked to store the same.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from services.listening.analysis.evaluate import load_set  # noqa: E402
from services.listening.mentions.analysing import AnalysisWorker  # noqa: E402
from services.listening.mentions.ingesting import IngestBatcher, IngestTraffic  # noqa: E402
from services.listening.mentions.schemas import MentionCreate  # noqa: E402
from services.listening.models import ListeningQuery, Mention  # noqa: E402
from services.listening.queries.logic import QueryMatcher  # noqa: E402
from services.listening.usage.quotas import IngestQuota  # noqa: E402
from services.listening.wakeups import Wakeups  # noqa: E402
from shared.db import create_engine, session_factory  # noqa: E402
from shared.events.outbox import OutboxMessage  # noqa: E402
from shared.migrations import upgrade_head  # noqa: E402

TENANT = "bench-tenant"
CLIENTS = 8


def posts(n: int) -> list[MentionCreate]:
    rng = random.Random(8)
    texts = [str(r["text"]) for r in load_set()]
    regulars = [f"@regular{i}" for i in range(10)]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for i in range(n):
        text = texts[i % len(texts)] + (" #Kettlr" if i % 3 == 0 else "")
        author = rng.choice(regulars) if rng.random() < 1 / 3 else f"@author-{i}"
        out.append(
            MentionCreate.model_validate(
                {
                    "platform": rng.choice(["x", "x", "instagram", "facebook"]),
                    "external_id": f"e{i}",
                    "text": text,
                    "created_at": now,
                    "url": f"https://example.com/status/{i}",
                    "author": {"handle": author, "display_name": author, "followers": rng.randint(0, 50_000)},
                }
            )
        )
    return out


async def run(url: str, n: int) -> dict[str, object]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        session.add(ListeningQuery(tenant_id=TENANT, name="Kettlr", kind="brand", expression="kettlr"))
        await session.commit()
    traffic, wakeups = IngestTraffic(), Wakeups()
    batcher = IngestBatcher(sessions, traffic=traffic, wakeups=wakeups, quota=IngestQuota(sessions, limit=0))
    worker = AnalysisWorker(
        sessions, traffic=traffic, wakeups=wakeups, matcher=QueryMatcher(budget_s=0.05), burst_rate=1e12
    )
    await asyncio.to_thread(lambda: worker.analyser.quality)
    queue = posts(n)
    writer = asyncio.create_task(batcher.run())

    async def client() -> None:
        while queue:
            await batcher.submit(tenant_id=TENANT, mention_in=queue.pop())

    c0 = time.process_time()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    c1, a0 = time.process_time(), worker.analysis_cpu_s
    worker.quality_rate = 0.001  # the fast tier while anything is pending, as after a burst
    while await worker.analyse_pending():
        pass
    c2, a1 = time.process_time(), worker.analysis_cpu_s
    traffic.last_write = 0.0
    while await worker.rescore():
        pass
    c3, a2 = time.process_time(), worker.analysis_cpu_s
    writer.cancel()
    async with sessions() as session:
        rows = (await session.execute(select(Mention))).scalars().all()
        external = {m.id: m.external_id for m in rows}
        stored = sorted(
            (
                m.external_id,
                m.fingerprint,
                m.sketch,
                external.get(m.group_id or ""),
                m.language,
                m.sentiment_label,
                m.sentiment_score,
                m.intent,
                m.analysis_tier,
                m.needs_rescore,
                m.analysis_status,
                m.low_confidence,
            )
            for m in rows
        )
        types = (
            await session.execute(
                select(OutboxMessage.type, func.count())
                .group_by(OutboxMessage.type)
                .order_by(OutboxMessage.type)
            )
        ).all()
    await engine.dispose()

    def per_mention(cpu_s: float) -> float:
        return round(1000 * cpu_s / n, 3)

    return {
        "mentions": n,
        "ingest_ms": per_mention(c1 - c0),
        "store_ms": per_mention((c2 - c1) - (a1 - a0)),
        "rescore_ms": per_mention((c3 - c2) - (a2 - a1)),
        "analysis_ms (apart)": per_mention(a2 - a0),
        "stored_digest": hashlib.sha256(json.dumps(stored, default=str).encode()).hexdigest()[:16],
        "outbox": {t: c for t, c in types},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000, help="mentions (default 1000)")
    args = parser.parse_args()
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='rapport-plumbing-')}/listening.db"
    upgrade_head("listening", url)  # before the loop: the migrations run their own
    print(json.dumps(asyncio.run(run(url, args.n))))


if __name__ == "__main__":
    main()
