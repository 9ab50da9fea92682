"""Keyset (cursor) pagination, newest first: stable under inserts, cheap at any depth."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, Table, and_, bindparam, or_, select
from sqlmodel import SQLModel

from shared.errors import BadRequest
from shared.reads import Reader, columns_of

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
R = TypeVar("R")

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size.")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    """One page of results and the cursor of the next one (null at the end)."""

    items: list[T]
    next_cursor: str | None = None


def _encode(created_at: datetime, id_: str) -> str:
    raw = json.dumps([created_at.isoformat(), id_]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, id_ = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(id_)
    except Exception:
        raise BadRequest("The cursor is not valid.") from None


def keyset_bound(stmt: Select[Any], created_col: Any, id_col: Any, *, after: bool) -> Select[Any]:
    """`stmt` newest first on (`created_col`, `id_col`), after the cursor's row when `after`, one row more
    than the page (that row only tells whether there is a next page). Bind parameters (`page_params`
    gives them): a statement built once per shape is reused without building or compiling it again."""
    if after:
        created = bindparam("after_created", type_=created_col.type)
        stmt = stmt.where(
            or_(created_col < created, and_(created_col == created, id_col < bindparam("after_id")))
        )
    return stmt.order_by(created_col.desc(), id_col.desc()).limit(bindparam("page_limit"))


def page_params(*, limit: int, cursor: str | None) -> dict[str, Any]:
    """The bind parameters of a `keyset_bound` statement (`after=` whether `cursor` is given)."""
    if not cursor:
        return {"page_limit": limit + 1}
    created, id_ = _decode(cursor)
    return {"page_limit": limit + 1, "after_created": created, "after_id": id_}


def cut(rows: Sequence[R], *, limit: int) -> tuple[list[R], str | None]:
    """The page (at most `limit` of `rows` as `keyset` fetched them) and the cursor of the next one."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    last: Any = page[-1]
    if isinstance(last, Mapping):
        return page, _encode(last["created_at"], last["id"])
    return page, _encode(last.created_at, last.id)


async def paginate(
    reader: Reader, stmt: Select[Any], params: Mapping[str, Any], *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of a `keyset_bound` statement (built with `after=bool(cursor)`): the rows and the next
    cursor. `params` are the statement's own bind parameters; the page's are added here."""
    rows = await reader.all(stmt, {**params, **page_params(limit=limit, cursor=cursor)})
    return cut(rows, limit=limit)


@functools.cache
def _equal_page(
    table: Table, columns: tuple[str, ...], after: bool, shape: type[BaseModel] | None
) -> Select[Any]:
    stmt = select(*columns_of(table, shape)).where(
        table.c.tenant_id == bindparam("tenant_id"), *(table.c[name] == bindparam(name) for name in columns)
    )
    return keyset_bound(stmt, table.c.created_at, table.c.id, after=after)


async def page_of(
    reader: Reader,
    model: type[SQLModel],
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    shape: type[BaseModel] | None = None,
    **equal: Any,
) -> tuple[list[Any], str | None]:
    """A page of the tenant's rows of `model`, newest first, where each column named in `equal` holds its
    value (a None value is no filter): rows with attribute access like the model's, from one statement
    built once per shape. With `shape` (the response's item model) only the columns it shows are read."""
    given = {name: value for name, value in equal.items() if value is not None}
    table: Table = model.__table__  # type: ignore[attr-defined]
    stmt = _equal_page(table, tuple(sorted(given)), bool(cursor), shape)
    params = {"tenant_id": tenant_id, **given, **page_params(limit=limit, cursor=cursor)}
    return cut(await reader.all(stmt, params), limit=limit)
