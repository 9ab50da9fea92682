"""The reader (shared/reads.py): statements with a list parameter read the same rows as through a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, insert, select

from shared.db import UTCDateTime, create_engine
from shared.reads import create_reader

metadata = MetaData()
items = Table(
    "reads_items",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant_id", String, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(n: int) -> datetime:
    return T0 + timedelta(days=n, microseconds=n)


# One statement with a list given at execution, beside a scalar before it and a literal IN list after it.
BY_IDS = (
    select(items.c.id, items.c.rank, items.c.created_at)
    .where(
        items.c.tenant_id == bindparam("tenant_id"),
        items.c.id.in_(bindparam("ids", expanding=True)),
        items.c.rank.in_([0, 1, 2, 3, 4, 5, 6, 7]),
        items.c.rank >= bindparam("min_rank"),
    )
    .order_by(items.c.rank)
)


# Literal IN lists beside bound parameters, and no list given at execution.
BY_RANKS = (
    select(items.c.id)
    .where(
        items.c.tenant_id == bindparam("tenant_id"),
        items.c.rank.in_([2, 4, 9]),
        items.c.id.in_(["i4", "i9"]),
    )
    .order_by(items.c.rank)
)


@pytest.mark.anyio
async def test_an_expanding_list_reads_its_rows_at_every_length(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(
                insert(items),
                [
                    {"id": f"i{n}", "tenant_id": "u" if n == 9 else "t", "rank": n, "created_at": at(n)}
                    for n in range(10)
                ],
            )
        reader = create_reader(engine)
        try:
            base = {"tenant_id": "t", "min_rank": 1}
            for ids in (["i3"], ["i1", "i8", "i5"], ["i3"], ("i2", "i4", "i9", "nope"), []):
                rows = await reader.all(BY_IDS, {**base, "ids": ids})
                expected = sorted(int(i[1:]) for i in ids if i in {f"i{n}" for n in range(1, 8)})
                assert [r.rank for r in rows] == expected, ids
                assert [r.id for r in rows] == [f"i{n}" for n in expected]
                assert all(r.created_at == at(r.rank) for r in rows)
            # The same lengths again read other values (the expanded SQL is kept, the values are not).
            assert [r.rank for r in await reader.all(BY_IDS, {**base, "ids": ["i6"]})] == [6]
            rows = await reader.all(BY_IDS, {**base, "min_rank": 5, "ids": ["i1", "i8", "i5"]})
            assert [r.id for r in rows] == ["i5"]
            assert await reader.scalar(BY_IDS, {**base, "ids": ["i7", "i2"]}) == "i2"
            assert [r.id for r in await reader.all(BY_RANKS, {"tenant_id": "t"})] == ["i4"]
            assert [r.id for r in await reader.all(BY_RANKS, {"tenant_id": "u"})] == ["i9"]
            with pytest.raises(KeyError):
                await reader.all(BY_RANKS, {})
        finally:
            await reader.close()
    finally:
        await engine.dispose()


COUNT = select(func.count()).select_from(items).where(items.c.tenant_id == bindparam("tenant_id"))


@pytest.mark.anyio
async def test_a_consistent_reader_sees_one_state_while_the_others_see_the_latest(database_url: str) -> None:
    engine = create_engine(database_url)
    row = {"tenant_id": "t", "rank": 0, "created_at": at(0)}
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(items), [{**row, "id": "a"}])
        reader = create_reader(engine)
        try:
            async with reader.consistent() as snapshot:
                assert await snapshot.scalar(COUNT, {"tenant_id": "t"}) == 1
                async with engine.begin() as conn:
                    await conn.execute(insert(items), [{**row, "id": "b"}])
                # A commit after its first statement is not seen by the snapshot's later ones ...
                assert await snapshot.scalar(COUNT, {"tenant_id": "t"}) == 1
                # ... while the process's reader reads the latest commit meanwhile.
                assert await reader.scalar(COUNT, {"tenant_id": "t"}) == 2
            async with reader.consistent() as snapshot:
                assert await snapshot.scalar(COUNT, {"tenant_id": "t"}) == 2
        finally:
            await reader.close()
    finally:
        await engine.dispose()
