"""`shared.db.shielded`: database work runs to its end even when its caller is cancelled or stops waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.db import begin_immediate, create_engine, session_factory, shielded


@pytest.mark.anyio
async def test_a_cancelled_caller_lets_the_transaction_commit_and_the_write_lock_go(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = session_factory(engine)
    async with sessions() as session:
        await session.execute(text("CREATE TABLE t (n INTEGER)"))
        await session.commit()
    started = asyncio.Event()

    async def write(n: int) -> None:
        async with sessions() as session:
            await begin_immediate(session)  # the one SQLite write lock, held until commit
            await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            started.set()
            await asyncio.sleep(0.3)
            await session.commit()

    caller = asyncio.create_task(shielded(write(1)))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller  # re-raised only once the transaction is over

    # Not left holding the lock: another writer gets in at once, and the first write was committed.
    await asyncio.wait_for(shielded(write(2)), timeout=2)
    with pytest.raises(TimeoutError):
        await shielded(write(3), timeout=0.05)  # stops waiting; the write goes on by itself
    await asyncio.sleep(0.5)
    async with sessions() as session:
        assert list(await session.scalars(text("SELECT n FROM t ORDER BY n"))) == [1, 2, 3]
    await engine.dispose()
