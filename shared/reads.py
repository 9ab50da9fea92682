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
per request. A list of values is one expanding parameter (`bindparam("ids", expanding=True)`, given a
list or tuple): the statement is compiled once, and its SQL for each length of the list is rendered once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator, TypeEngine

from shared.db import UTCDateTime

# Plans kept per process; statements are module constants or cached per shape, so this is never reached
# in practice (a leak guard against statements built per request).
MAX_PLANS = 2048
# A reader in WAL mode waits only while a crashed writer's log is recovered; it waits on the event loop.
SQLITE_READ_BUSY_MS = 1000
# Read connections per process on PostgreSQL, beside the write engine's pool (shared/db.py).
POSTGRES_READ_POOL = 8

Processor = Callable[[Any], Any]
# A select of any columns (SQLAlchemy's `Select` is generic in the types of all its columns).
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
    # SQLite keeps `UTCDateTime` as ISO text in UTC without an offset ('2026-12-06 16:42:02.123456'):
    # parsed with the offset appended (`replace(tzinfo=...)` afterwards costs five times the parse).
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text written with an offset of its own
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc
    if dialect.driver == "asyncpg":
        # asyncpg hands back Python values already (aware timestamps, numbers, booleans; JSON through the
        # codecs its connections get): only our own type decorators convert further. (The dialect's
        # processors expect the column's type OID, which a plan compiled ahead does not know.)
        if isinstance(type_, TypeDecorator) and _decorates_results(type_):
            return functools.partial(type_.process_result_value, dialect=dialect)
        return None
    return type_.dialect_impl(dialect).result_processor(dialect, None)


def _decorates_results(type_: TypeDecorator[Any]) -> bool:
    return type(type_).process_result_value is not TypeDecorator.process_result_value


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement compiled for one dialect: SQL, positional parameters and the columns' conversions."""

    sql: str
    # Per positional parameter: the name of the value, and the index of the item when the value is a list
    # (an expanding parameter), else -1.
    params: tuple[tuple[str, int], ...]
    # Values of parameters the statement carries itself (literal IN lists, constants).
    defaults: Mapping[str, Any]
    binds: tuple[Processor | None, ...]
    results: tuple[tuple[int, Processor], ...]
    make: Callable[[Sequence[Any]], Any]

    @classmethod
    def compile(cls, stmt: AnySelect, dialect: Dialect) -> Plan | Expanding:
        """The plan of `stmt`, or, when it has expanding parameters given at execution, its `Expanding`
        (a plan per length of their lists)."""
        compiled = stmt.compile(dialect=dialect)
        if compiled.post_compile_params:
            # Lists given at execution, or literal IN lists (rendered beside bound parameters the same
            # way: SQLAlchemy renders them only with every bound parameter's value at hand).
            given = [bind for bind in compiled.post_compile_params if bind.expanding and bind.required]
            lists = tuple(compiled.bind_names[bind] for bind in given)
            return Expanding(compiled, lists, _results(stmt, dialect))
        names = tuple(compiled.positiontup or ())
        binds = tuple(_bind_processor(compiled.binds[name], dialect) for name in names)
        results, make = _results(stmt, dialect)
        params = tuple((name, -1) for name in names)
        return cls(compiled.string, params, dict(compiled.params), binds, results, make)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for (name, item), bind in zip(self.params, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            if item >= 0:
                value = value[item]
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


def _bind_processor(bind: Any, dialect: Dialect) -> Processor | None:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _results(stmt: AnySelect, dialect: Dialect) -> tuple[tuple[tuple[int, Processor], ...], Any]:
    columns = list(stmt.selected_columns)
    results = tuple(
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := _result_processor(column.type, dialect)) is not None
    )
    row = _row_type([column.key or f"c{index}" for index, column in enumerate(columns)])
    return results, row._make


# Plans kept per statement with expanding parameters, one per length of their lists (a leak guard).
MAX_LENGTHS = 256


class Expanding:
    """A statement with expanding parameters (lists given at execution, or literal IN lists), compiled
    once: its SQL for a length of the lists is rendered the first time that length is seen (SQLAlchemy's
    `POSTCOMPILE` expansion, the same as on execution through a session), then kept."""

    def __init__(self, compiled: Any, lists: tuple[str, ...], results: Any) -> None:
        self._compiled = compiled
        self._lists = lists
        self._results = results
        self._by_length: dict[tuple[int, ...], Plan] = {}
        # Parameters without a value of their own: given at execution (a placeholder renders their SQL).
        self._required = {name: None for name in compiled.positiontup or () if compiled.binds[name].required}

    def plan(self, params: Mapping[str, Any]) -> Plan:
        lengths = tuple(len(params[name]) for name in self._lists)
        plan = self._by_length.get(lengths)
        if plan is None:
            plan = self._expand(lengths)
            if len(self._by_length) >= MAX_LENGTHS:
                self._by_length.clear()
            self._by_length[lengths] = plan
        return plan

    def _expand(self, lengths: tuple[int, ...]) -> Plan:
        compiled = self._compiled
        dialect = compiled.dialect
        given: dict[str, Any] = {
            **self._required,
            **{name: [None] * n for name, n in zip(self._lists, lengths, strict=True)},
        }
        state = compiled.construct_expanded_state(given, escape_names=False)
        # The expanded names of each list's items (`ids_1`, `ids_2`, ...) and of literal IN lists'.
        items: dict[str, tuple[str, int]] = {}
        defaults = {name: value for name, value in compiled.params.items() if name not in self._required}
        for bind in compiled.post_compile_params:
            name = compiled.bind_names[bind]
            count = len(given[name] if name in given else defaults.get(name) or ())
            for index in range(count):
                items[f"{name}_{index + 1}"] = (name, index)
        params = tuple(items.get(name, (name, -1)) for name in state.positiontup or ())
        binds = tuple(_bind_processor(compiled.binds[name], dialect) for name, _ in params)
        results, make = self._results
        return Plan(state.statement, params, defaults, binds, results, make)


class Reader(Protocol):
    """Runs read-only statements; rows have attribute access and `_mapping` like SQLAlchemy's."""

    async def all(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> list[Any]: ...

    async def first(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any | None: ...

    async def scalar(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any: ...

    async def close(self) -> None: ...

    def consistent(self) -> AbstractAsyncContextManager[Reader]:
        """A reader whose statements all see the database as of one moment (one read transaction), for
        figures read by several statements that must agree (a scorecard)."""
        ...


class SessionReader:
    """The reader interface over a session, for logic that reads inside its own transaction what it has
    just written (a write route answering with the row it changed); requests that only read use the
    process's reader."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list((await self._session.execute(stmt, params or {})).all())

    async def first(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any | None:
        return (await self._session.execute(stmt, params or {})).first()

    async def scalar(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any:
        return (await self._session.execute(stmt, params or {})).scalar()

    async def close(self) -> None:
        """The session is its owner's to close."""

    @contextlib.asynccontextmanager
    async def consistent(self) -> AsyncIterator[Reader]:
        """The session's own transaction already reads one state."""
        yield self


class _Plans:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[int, tuple[AnySelect, Plan | Expanding]] = {}

    def of(self, stmt: AnySelect, params: Mapping[str, Any]) -> Plan:
        entry = self._plans.get(id(stmt))
        if entry is not None and entry[0] is stmt:
            plan = entry[1]
        else:
            plan = Plan.compile(stmt, self.dialect)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[id(stmt)] = (stmt, plan)
        return plan if isinstance(plan, Plan) else plan.plan(params)


class _BaseReader(ABC):
    def __init__(self, dialect: Dialect) -> None:
        self._plans = _Plans(dialect)

    @abstractmethod
    async def _fetch(self, plan: Plan, args: list[Any]) -> Sequence[Sequence[Any]]:
        """The driver's rows of `plan` run with `args` (each database's reader says how)."""

    async def all(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> list[Any]:
        params = params or {}
        plan = self._plans.of(stmt, params)
        return plan.rows(await self._fetch(plan, plan.args(params)))

    async def first(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any | None:
        rows = await self.all(stmt, params)
        return rows[0] if rows else None

    async def scalar(self, stmt: AnySelect, params: Mapping[str, Any] | None = None) -> Any:
        row = await self.first(stmt, params)
        return None if row is None else row[0]


class SQLiteReader(_BaseReader):
    """One read-only `sqlite3` connection; each statement runs to its last row on the calling thread."""

    def __init__(self, path: str, dialect: Dialect, plans: _Plans | None = None) -> None:
        super().__init__(dialect)
        if plans is not None:
            self._plans = plans
        self._path = path
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

    @contextlib.asynccontextmanager
    async def consistent(self) -> AsyncIterator[Reader]:
        """A connection of its own in a read transaction (in WAL mode its first statement fixes the state
        it reads). Not the shared connection: a request running meanwhile must see the latest commit."""
        own = SQLiteReader(self._path, self._plans.dialect, plans=self._plans)
        own._conn.execute("BEGIN")
        try:
            yield own
        finally:
            own._conn.execute("ROLLBACK")
            await own.close()


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

    @contextlib.asynccontextmanager
    async def consistent(self) -> AsyncIterator[Reader]:
        """One pooled connection in a read-only REPEATABLE READ transaction: every statement sees the
        snapshot its first one took."""
        pool = self._pool or await self._open()
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield _ConnectionReader(conn, self._plans)


class _ConnectionReader(_BaseReader):
    """Statements on one asyncpg connection (inside its owner's transaction)."""

    def __init__(self, conn: asyncpg.Connection, plans: _Plans) -> None:
        self._plans = plans
        self._conn = conn

    async def _fetch(self, plan: Plan, args: list[Any]) -> Sequence[Sequence[Any]]:
        return await self._conn.fetch(plan.sql, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        """The connection is its owner's."""

    @contextlib.asynccontextmanager
    async def consistent(self) -> AsyncIterator[Reader]:
        yield self


def create_reader(engine: AsyncEngine) -> Reader:
    """The reader of `engine`'s database (the same file or server, its own connections)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a reader needs a database file")
        return SQLiteReader(url.database, engine.dialect)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresReader(dsn, engine.dialect)
