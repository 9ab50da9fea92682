"""A batch's fact rows as plain objects: read once, changed in memory, written once (Core statements,
no ORM objects: building and tracking those costs more than the folds themselves)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from shared.events.contracts import Contract
from shared.events.envelope import Event


def named(event: Event[Contract], *fields: str) -> set[str]:
    """The ids an event's payload names in these fields."""
    extra = event.data.model_extra or {}
    return {str(extra[name]) for name in fields if extra.get(name) is not None}


def by_tenant(
    events: Iterable[Event[Contract]], ids_of: Callable[[Event[Contract]], set[str]]
) -> dict[str, set[str]]:
    """The rows a batch is about: the ids its events name (`ids_of`), per tenant."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        if ids := ids_of(event):
            wanted.setdefault(event.tenantid, set()).update(ids)
    return wanted


class Row(SimpleNamespace):
    """A fact row as a batch folds it: read once (or made), changed in memory, written once."""


def _copy(values: Any) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}


@functools.cache
def _update(table: Any, key: str) -> tuple[tuple[str, ...], Any]:
    """A changed row's columns (all but its key) and its statement, by (tenant, key): built once."""
    columns = tuple(c.name for c in table.c if c.name not in ("tenant_id", key))
    stmt = (
        table.update()
        .where(table.c.tenant_id == bindparam("_t"), table.c[key] == bindparam("_id"))
        .values({name: bindparam(f"_{name}") for name in columns})
    )
    return columns, stmt


class Rows:
    """A batch's rows of one fact table keyed by (tenant, `key`): read in one statement per tenant,
    changed in memory, then written in two statements (the new rows, the changed ones)."""

    def __init__(self, model: type[SQLModel], key: str) -> None:
        self.table: Any = model.__table__  # type: ignore[attr-defined]
        self.key = key
        self.rows: dict[tuple[str, str], Row | None] = {}
        self.written: dict[tuple[str, str], dict[str, Any]] = {}  # the rows as the database has them
        # A new row's values: the model's defaults.
        self.defaults = {
            name: info.get_default(call_default_factory=True) for name, info in model.model_fields.items()
        }
        self.columns, self.update = _update(self.table, key)

    def _found(self, tenant_id: str, values: Any) -> Row:
        """A row read: the batch's own when it has it (written out before any read), else as read."""
        key = (tenant_id, values[self.key])
        row = self.rows.get(key)
        if row is None:
            self.written[key] = _copy(values)
            row = self.rows[key] = Row(**_copy(values))
        return row

    async def read(self, session: AsyncSession, wanted: dict[str, set[str]]) -> None:
        """The rows of these ids the batch has not read yet (one statement per tenant)."""
        column = self.table.c[self.key]
        for tenant_id, ids in wanted.items():
            missing = sorted(i for i in ids if (tenant_id, i) not in self.rows)
            if not missing:
                continue
            self.rows.update(((tenant_id, i), None) for i in missing)
            found = await session.execute(
                select(self.table).where(self.table.c.tenant_id == tenant_id, column.in_(missing))
            )
            for values in found.mappings():
                self._found(tenant_id, values)

    async def where(self, session: AsyncSession, tenant_id: str, *conditions: Any) -> list[Row]:
        """The tenant's rows that meet `conditions` (the batch's changes written out first)."""
        await self.write(session)
        found = await session.execute(
            select(self.table).where(self.table.c.tenant_id == tenant_id, *conditions)
        )
        return [self._found(tenant_id, values) for values in found.mappings()]

    async def fetch(self, session: AsyncSession, tenant_id: str, id_: str) -> Row | None:
        """One row, read if the batch has not yet."""
        if (tenant_id, id_) not in self.rows:
            await self.read(session, {tenant_id: {id_}})
        return self.rows[(tenant_id, id_)]

    def get(self, tenant_id: str, id_: str) -> Row | None:
        return self.rows.get((tenant_id, id_))

    def get_or_add(self, tenant_id: str, id_: str) -> Row:
        """The row, or a new one with the model's defaults."""
        row = self.rows.get((tenant_id, id_))
        if row is None:
            values = {**self.defaults, "tenant_id": tenant_id, self.key: id_}
            row = self.rows[(tenant_id, id_)] = Row(**_copy(values))
        return row

    async def write(self, session: AsyncSession) -> None:
        """The rows that changed since they were read or last written: the new ones in one statement, the
        others in another (each row whole)."""
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for key, row in sorted(self.rows.items()):
            if row is None:
                continue
            values = vars(row)
            before = self.written.get(key)
            if before == values:
                continue
            if before is None:
                new.append(dict(values))
            else:
                changed.append({"_t": key[0], "_id": key[1], **{f"_{k}": values[k] for k in self.columns}})
            self.written[key] = _copy(values)
        if new:
            await session.execute(self.table.insert(), new)
        if changed:
            await session.execute(self.update, changed)
