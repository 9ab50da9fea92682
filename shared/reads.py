"""Reads straight on the database driver: Core statements compiled once, run on the driver's connection.

Requests that only read (every list and get endpoint) go through a `Reader` instead of a SQLAlchemy
session. A statement is still written with SQLAlchemy Core (one place for the schema, the dialects' SQL
and their type conversions), but it is compiled once per statement object, and each execution is the
driver's own call plus the column types' conversions: no session, no connection pool events, no
execution context, no greenlet. Under load that machinery cost more CPU than the rest of a request
(`bench/reads.py`, docs/performance.md).

- SQLite: one plain `sqlite3` connection per process, read-only (`PRAGMA query_only`), in autocommit
  mode (each statement sees the latest commit; WAL lets it read beside the writer). Statements run on
  the event loop: a read bounded by an index costs less than handing it to a thread, and with no await
  between a statement and its rows one connection serves every request.
- PostgreSQL: an asyncpg pool of its own (prepared statements cached per connection by asyncpg), with no
  reset query on release (reads leave no session state behind).

Pass statements built once (module constants, or builders cached per shape with `bindparam`s for the
values): plans are cached by statement identity, and a statement built afresh per request is compiled
per request.
"""

from __future__ import annotations

import json
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

from shared.db import UTCDateTime

# Plans kept per process; statements are module constants or cached per shape, so this is never reached
# in practice (a leak guard against statements built per request).
MAX_PLANS = 2048
# A reader in WAL mode waits only while a crashed writer's log is recovered; it waits on the event loop.
SQLITE_READ_BUSY_MS = 1000
# Read connections per process on PostgreSQL, beside the write engine's pool (shared/db.py).
POSTGRES_READ_POOL = 8

Processor = Callable[[Any], Any]
# A select of any columns (SQLAlchemy 2.1 types a select by its columns).
AnySelect = Select[*tuple[Any, ...]]


def _row_type(names: Sequence[str]) -> Any:
    """A tuple type with attribute access and `_mapping`, like SQLAlchemy's `Row` for what reads use."""
    base: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]

    class Row(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(names, self, strict=True))

    return Row


def _sqlite_utc(value: str | None) -> datetime | None:
    # SQLite keeps `UTCDateTime` as ISO text in UTC without an offset ('2026-12-06 16:42:02.123456'). Parsed
    # with the offset appended it is aware in one C call: SQLAlchemy's chain (text to naive datetime, then
    # the decorator's `replace(tzinfo=UTC)`) costs six times as much, and pages have dozens of them.
    if value is None:
        return None
    if len(value) <= len("2026-12-06 16:42:02.123456"):
        return datetime.fromisoformat(value + "+00:00")
    return datetime.fromisoformat(value).astimezone(UTC)  # written with an offset by hand


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc
    return type_.dialect_impl(dialect).result_processor(dialect, None)


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement compiled for one dialect: SQL, positional parameters and the columns' conversions."""

    sql: str
    params: tuple[str, ...]
    # Values of parameters the statement carries itself (literal IN lists, constants).
    defaults: Mapping[str, Any]
    binds: tuple[Processor | None, ...]
    results: tuple[tuple[int, Processor], ...]
    make: Callable[[Sequence[Any]], Any]

    @classmethod
    def compile(cls, stmt: AnySelect, dialect: Dialect) -> Plan:
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        names = tuple(compiled.positiontup or ())
        binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        columns = list(stmt.selected_columns)
        results = tuple(
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := _result_processor(column.type, dialect)) is not None
        )
        row = _row_type([column.key or f"c{index}" for index, column in enumerate(columns)])
        return cls(compiled.string, names, dict(compiled.params), binds, results, row._make)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, bind in zip(self.params, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(value if bind is None or value is None else bind(value))
        return values

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        if not self.results:
            return [self.make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for index, processor in self.results:
                values[index] = processor(values[index])
            out.append(self.make(values))
        return out


def columns_of(table: Table, shape: type[BaseModel] | None) -> list[Any]:
    """The columns of `table` a response `shape` shows (all of them without one), plus the page order's."""
    if shape is None:
        return list(table.c)
    names = {*shape.model_fields, "created_at", "id"}
    return [column for column in table.c if column.key in names]


class Reader(Protocol):
    """Runs read-only statements; rows have attribute access and `_mapping` like SQLAlchemy's."""

    async def all(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> list[Any]: ...

    async def first(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any | None: ...

    async def scalar(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any: ...

    async def close(self) -> None: ...


class _Plans:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[int, tuple[AnySelect, Plan]] = {}

    def of(self, stmt: AnySelect) -> Plan:
        entry = self._plans.get(id(stmt))
        if entry is not None and entry[0] is stmt:
            return entry[1]
        plan = Plan.compile(stmt, self.dialect)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[id(stmt)] = (stmt, plan)
        return plan


class _BaseReader:
    def __init__(self, dialect: Dialect) -> None:
        self._plans = _Plans(dialect)

    async def _fetch(self, plan: Plan, args: list[Any]) -> Sequence[Sequence[Any]]:
        raise NotImplementedError

    async def all(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> list[Any]:
        plan = self._plans.of(stmt)
        return plan.rows(await self._fetch(plan, plan.args(params or {})))

    async def first(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any | None:
        rows = await self.all(stmt, params)
        return rows[0] if rows else None

    async def scalar(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any:
        row = await self.first(stmt, params)
        return None if row is None else row[0]


class SQLiteReader(_BaseReader):
    """One read-only `sqlite3` connection; each statement runs to its last row on the calling thread."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        super().__init__(dialect)
        conn = sqlite3.connect(
            path, check_same_thread=False, timeout=SQLITE_READ_BUSY_MS / 1000, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout={SQLITE_READ_BUSY_MS}")
        # A write through a reader is a bug: make it fail instead of taking the write lock.
        conn.execute("PRAGMA query_only=ON")
        self._conn = conn

    async def _fetch(self, plan: Plan, args: list[Any]) -> Sequence[Sequence[Any]]:
        return self._conn.execute(plan.sql, args).fetchall()

    async def close(self) -> None:
        self._conn.close()


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """The JSON decoding SQLAlchemy's asyncpg dialect sets up, so rows read the same either way."""
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=lambda b: json.loads(b.decode()),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda s: b"\x01" + s.encode(),
        decoder=lambda b: json.loads(b[1:].decode()),
        schema="pg_catalog",
        format="binary",
    )


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Reads leave no session state: skip asyncpg's reset query (a round trip per release)."""


class PostgresReader(_BaseReader):
    """An asyncpg pool of read connections, opened lazily."""

    def __init__(self, dsn: str, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None

    async def _open(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=POSTGRES_READ_POOL, init=_json_codecs, reset=_no_reset
            )
        return self._pool

    async def _fetch(self, plan: Plan, args: list[Any]) -> Sequence[Sequence[Any]]:
        pool = self._pool or await self._open()
        async with pool.acquire() as conn:
            return await conn.fetch(plan.sql, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def create_reader(engine: AsyncEngine) -> Reader:
    """The reader of `engine`'s database (the same file or server, its own connections)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a reader needs a database file")
        return SQLiteReader(url.database, engine.dialect)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresReader(dsn, engine.dialect)
