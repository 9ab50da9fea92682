"""Tenant scope lives in the query builder: every read of a tenant's rows goes through here."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, Table, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from shared.errors import NotFound
from shared.reads import Reader, columns_of

M = TypeVar("M", bound=SQLModel)


def scoped(model: type[M], tenant_id: str) -> SelectOfScalar[M]:
    """`SELECT model WHERE tenant_id = :tenant_id`."""
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


@functools.cache
def _by_id(model: type[M]) -> SelectOfScalar[M]:
    # Built once per model with bind parameters: building the statement cost more than running it.
    return select(model).where(
        model.tenant_id == bindparam("tenant_id"),  # type: ignore[attr-defined]
        model.id == bindparam("id"),  # type: ignore[attr-defined]
    )


async def get_scoped(
    session: AsyncSession, model: type[M], *, tenant_id: str, id: Any, error: type[NotFound] = NotFound
) -> M:
    """Load one row of the tenant by id; another tenant's row is simply not found."""
    row: M | None = (
        (await session.execute(_by_id(model), {"tenant_id": tenant_id, "id": id})).scalars().first()
    )
    if row is None:
        raise error(f"{model.__name__} {id} was not found.")
    return row


@functools.cache
def _row_by_id(table: Table, shape: type[BaseModel] | None) -> Select[Any]:
    return core_select(*columns_of(table, shape)).where(
        table.c.tenant_id == bindparam("tenant_id"), table.c.id == bindparam("id")
    )


async def get_row_scoped(
    reader: Reader,
    model: type[SQLModel],
    *,
    tenant_id: str,
    id: Any,
    error: type[NotFound] = NotFound,
    shape: type[BaseModel] | None = None,
) -> Any:
    """`get_scoped` for reads: the row (attribute access like the model's) through the reader; with
    `shape` (the response model), only the columns it shows."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    row = await reader.first(_row_by_id(table, shape), {"tenant_id": tenant_id, "id": id})
    if row is None:
        raise error(f"{model.__name__} {id} was not found.")
    return row
