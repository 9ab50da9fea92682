"""Async SQLModel engine and sessions: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the services use for stored timestamps."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Connections per process. SQLite has one writer at a time and each aiosqlite connection is a thread;
# PostgreSQL's default limit is 100 connections for the five services and their replicas.
SQLITE_POOL = 8
POSTGRES_POOL = 10


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, NORMAL sync, foreign keys and a busy timeout."""
    # A bounded pool without overflow: overflow connections are closed as soon as they are returned, so
    # under steady load (more requests in flight than `pool_size`) every request opened and closed a
    # connection (on SQLite a new worker thread and the pragmas below; on PostgreSQL a new session).
    # Requests beyond the pool wait for a connection instead.
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=SQLITE_POOL, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_async_engine(url, pool_size=POSTGRES_POOL, max_overflow=0)
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle for longer than this is pinged before use (see `_ping_when_idle`).
POSTGRES_IDLE_PING_S = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection at checkout only when it has sat in the pool for `POSTGRES_IDLE_PING_S`.

    What `pool_pre_ping` is for (a database restarted while connections sat in the pool: the request
    gets a fresh connection instead of an error) without its round trip on every checkout: under load a
    connection comes back to the pool and leaves it again within milliseconds, and a connection that
    broke while in use invalidates the whole pool anyway (SQLAlchemy's disconnect handling)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < POSTGRES_IDLE_PING_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:
            alive = False
        if not alive:
            # The pool drops this connection and checks out (or opens) another.
            raise DisconnectionError()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


T = TypeVar("T")


# `timeout` bounds the wait, not the work: asyncio.timeout around the call would wait for the work anyway.
async def shielded(work: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:  # noqa: ASYNC109
    """Run database work to its end even when the caller is cancelled meanwhile (the cancel is re-raised
    once the work is over): a transaction cancelled half-way can leave its connection, and on SQLite the
    one write lock, held. With `timeout`, stop waiting after it (TimeoutError) and let the work finish
    by itself."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def begin_immediate(session: AsyncSession) -> None:
    """On SQLite, really begin the session's transaction now and take the write lock (no-op elsewhere).

    The sqlite3 driver's legacy mode emits BEGIN only before INSERT/UPDATE/DELETE: a SAVEPOINT sent
    first would open a transaction of its own whose RELEASE commits, outside the caller's rollback. An
    explicit BEGIN IMMEDIATE puts every later SAVEPOINT inside the transaction (the driver then leaves
    BEGIN alone and still sends COMMIT/ROLLBACK), and waits (busy timeout) for the one writer's lock up
    front, so a read in this transaction can never turn into a failed upgrade to writer later.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("BEGIN IMMEDIATE"))


async def lock_tenant(session: AsyncSession, name: str, tenant_id: str, *, shared: bool = False) -> None:
    """Serialise, until the transaction ends, the transactions that take this lock for this tenant.

    For read-then-write decisions that two consumers make from each other's rows (a new agent takes the
    unassigned conversations; a new conversation takes an agent): under READ COMMITTED each could miss
    the other's uncommitted row. PostgreSQL: a transaction-scoped advisory lock. SQLite has one writer
    at a time already (transactions that write begin with `begin_immediate`), so nothing is needed.
    `shared`: taken by many transactions at once, which wait only for (and hold off) the exclusive one
    (readers of a list that a rare writer changes).
    """
    if session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await session.execute(text(f"SELECT {function}(hashtext(:key))"), {"key": f"{name}:{tenant_id}"})


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on error."""
    async with sessions() as session, session.begin():
        yield session
