"""Keyset (cursor) pagination, newest first: stable under inserts, cheap at any depth."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel
from sqlmodel.sql.expression import SelectOfScalar

from shared.errors import BadRequest

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)

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


async def paginate(
    session: AsyncSession, stmt: SelectOfScalar[M], model: type[M], *, limit: int, cursor: str | None
) -> tuple[list[M], str | None]:
    """Apply keyset paging on (`created_at`, `id`) descending; return rows and the next cursor."""
    created_col: Any = model.created_at  # type: ignore[attr-defined]
    id_col: Any = model.id  # type: ignore[attr-defined]
    if cursor:
        created, id_ = _decode(cursor)
        stmt = stmt.where(or_(created_col < created, and_(created_col == created, id_col < id_)))
    stmt = stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(last.created_at, last.id)  # type: ignore[attr-defined]
    return rows, next_cursor
