"""Segments at scale: filling new segments, refreshing memberships, exporting members as CSV.

    .venv/bin/python -m bench.segments                    # 20,000 profiles, 20 segments
    .venv/bin/python -m bench.segments --profiles 50000 --segments 10

Builds a SQLite database of one tenant's profiles (random stages, trends, influence, tags), then through
`services.profiles.logic.segments`: creates `--segments` segments (each filled in one pass over the
profiles), refreshes the memberships of 100 profiles at a time (`refresh_memberships`, as resolution
calls it per batch) 50 times, and exports the largest segment as CSV. Prints wall time and the process's
CPU time (SQLite's thread included) per step, and the peak Python memory of the export (it must not
grow with the segment).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlmodel import SQLModel

from services.profiles.logic.segments import create_segment, export_members, refresh_memberships
from services.profiles.models import AttributeDefinition, Profile, Segment, SegmentMember, new_id
from services.profiles.schemas import SegmentCreate
from shared.db import create_engine, session_factory, utcnow
from shared.reads import create_reader

RULES = (
    "lifecycle = customer AND sentiment_trend < -0.3 AND influence > 70",
    'tags has "vip"',
    "NOT at_risk AND lifecycle in (lead, customer)",
    "followers > 1000 OR mention_count >= 5",
    "first_seen_at >= 2025-01-01",
    "influence > 50",
    "sentiment_trend > 0.3",
    "lifecycle = stranger",
    "mention_count > 2 AND NOT tags has churned",
    "at_risk",
)
BATCH = 100
BATCHES = 50


def _profiles(n: int) -> list[dict[str, object]]:
    rnd, now = random.Random(1), utcnow()
    return [
        {
            "id": new_id(),
            "tenant_id": "t",
            "display_name": "x",
            "first_seen_at": now,
            "last_seen_at": now,
            "created_at": now - timedelta(seconds=i),
            "updated_at": now,
            "lifecycle_stage": rnd.choice(["stranger", "fan", "lead", "customer", "advocate"]),
            "at_risk": rnd.random() < 0.1,
            "sentiment_trend": rnd.uniform(-1, 1),
            "sentiment_sum": 0.0,
            "influence": rnd.uniform(0, 100),
            "followers": rnd.randint(0, 5000),
            "mention_count": rnd.randint(1, 10),
            "order_count": 0,
            "tags": rnd.sample(["vip", "churned", "beta", "gold"], rnd.randint(0, 2)),
            "intent_counts": {},
            "languages": ["en"],
            "lifetime_value": {},
            "attributes": {},
        }
        for i in range(n)
    ]


async def run(path: Path, *, profiles: int, segments: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    tables = [m.__table__ for m in (Profile, Segment, SegmentMember, AttributeDefinition)]  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=tables))
    sessions = session_factory(engine)
    rows = _profiles(profiles)
    async with sessions() as session:
        await session.execute(insert(Profile.__table__), rows)  # type: ignore[attr-defined]
        await session.commit()

    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(segments):
        async with sessions() as session:
            segment_in = SegmentCreate(name=f"s{i}", rule=RULES[i % len(RULES)])
            await create_segment(session, tenant_id="t", segment_in=segment_in)
    print(
        f"fill: {(time.perf_counter() - wall) / segments * 1000:.0f} ms wall, "
        f"{(time.process_time() - cpu) / segments * 1000:.0f} ms CPU per segment of {profiles} profiles"
    )

    ids = [row["id"] for row in rows]
    wall, cpu = time.perf_counter(), time.process_time()
    for b in range(BATCHES):
        async with sessions() as session:
            await refresh_memberships(session, "t", ids[b * BATCH : (b + 1) * BATCH])  # type: ignore[misc]
            await session.commit()
    print(
        f"refresh_memberships of {BATCH} profiles x {segments} segments: "
        f"{(time.perf_counter() - wall) / BATCHES * 1000:.1f} ms wall, "
        f"{(time.process_time() - cpu) / BATCHES * 1000:.1f} ms CPU per call"
    )

    async with sessions() as session:
        largest = (
            await session.execute(select(Segment.__table__).order_by(Segment.member_count.desc()).limit(1))  # type: ignore[attr-defined]
        ).one()
    # Timed without tracing (tracemalloc slows allocation down several times), then traced for memory.
    reader = create_reader(engine)
    wall, cpu, lines = time.perf_counter(), time.process_time(), 0
    async for chunk in export_members(reader, tenant_id="t", segment_id=largest.id):
        lines += chunk.count("\n")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tracemalloc.start()
    async for _chunk in export_members(reader, tenant_id="t", segment_id=largest.id):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"CSV export of {lines - 1} members: {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"peak Python memory {peak / 1e6:.1f} MB"
    )
    await reader.close()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "profiles.sqlite", profiles=args.profiles, segments=args.segments))


if __name__ == "__main__":
    main()
