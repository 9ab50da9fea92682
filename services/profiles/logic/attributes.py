"""Custom attributes: the tenant's definitions (name, type) and the typed validation of profile values."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import AttributeExists, AttributeInvalid, AttributeNotFound
from services.profiles.models import AttributeDefinition
from services.profiles.schemas import (
    AttributeDefinitionCreate,
    AttributeDefinitionPage,
    AttributeDefinitionRead,
)
from shared.errors import Unprocessable
from shared.pagination import page_of
from shared.reads import Reader

MAX_STRING = 500
_A = AttributeDefinition.__table__  # type: ignore[attr-defined]
_OF_TENANT = select(_A.c.name, _A.c.type, _A.c.options).where(_A.c.tenant_id == bindparam("tenant_id"))

# {name: (type, enum options)}
Definitions = dict[str, tuple[str, tuple[str, ...]]]


async def definitions(session: AsyncSession, tenant_id: str) -> Definitions:
    """The tenant's attribute definitions, by name (one statement)."""
    rows = (await session.execute(_OF_TENANT, {"tenant_id": tenant_id})).all()
    return {row.name: (row.type, tuple(row.options or ())) for row in rows}


async def list_definitions(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None
) -> AttributeDefinitionPage:
    """The tenant's definitions, newest first."""
    rows, next_cursor = await page_of(
        reader,
        AttributeDefinition,
        tenant_id=tenant_id,
        limit=limit,
        cursor=cursor,
        shape=AttributeDefinitionRead,
    )
    return AttributeDefinitionPage.model_validate(
        {"items": rows, "next_cursor": next_cursor}, from_attributes=True
    )


async def create_definition(
    session: AsyncSession, *, tenant_id: str, definition: AttributeDefinitionCreate
) -> AttributeDefinitionRead:
    """Define an attribute; the same name twice is `AttributeExists` (409)."""
    options = list(definition.options)
    if definition.type == "enum":
        if not options:
            raise Unprocessable(
                "An enum attribute lists its options.",
                errors=[{"loc": ["body", "options"], "msg": "at least one option", "type": "missing"}],
            )
        if len(set(options)) != len(options):
            raise Unprocessable(
                "An enum attribute's options are distinct.",
                errors=[{"loc": ["body", "options"], "msg": "duplicate option", "type": "value_error"}],
            )
    elif options:
        raise Unprocessable(
            "Only an enum attribute has options.",
            errors=[{"loc": ["body", "options"], "msg": "options of a non-enum", "type": "value_error"}],
        )
    row = AttributeDefinition(
        tenant_id=tenant_id, name=definition.name, type=definition.type, options=options
    )
    exists = select(_A.c.id).where(_A.c.tenant_id == tenant_id, _A.c.name == definition.name)
    if (await session.execute(exists)).first() is not None:
        raise AttributeExists(f"The attribute {definition.name!r} is already defined.")
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        # Defined by a concurrent request between the check and the insert.
        await session.rollback()
        raise AttributeExists(f"The attribute {definition.name!r} is already defined.") from None
    return AttributeDefinitionRead.model_validate(row, from_attributes=True)


async def delete_definition(session: AsyncSession, *, tenant_id: str, name: str) -> None:
    """Forget a definition: the values profiles hold stay until removed, and no longer validate new ones."""
    stmt = delete(_A).where(_A.c.tenant_id == tenant_id, _A.c.name == name)
    result = await session.execute(stmt)
    if not result.rowcount:  # type: ignore[attr-defined]
        raise AttributeNotFound(f"The attribute {name!r} is not defined.")
    await session.commit()


def _invalid(name: str, msg: str) -> AttributeInvalid:
    return AttributeInvalid(
        f"The attribute {name!r} is not valid: {msg}.",
        errors=[{"loc": ["body", "attributes", name], "msg": msg, "type": "attribute_invalid"}],
    )


def check_value(name: str, value: Any, definition: tuple[str, tuple[str, ...]] | None) -> Any:
    """The value as stored (a date as YYYY-MM-DD), or `AttributeInvalid` naming the attribute."""
    if definition is None:
        raise _invalid(name, "no such attribute is defined")
    type_, options = definition
    if type_ == "string":
        if not isinstance(value, str) or len(value) > MAX_STRING:
            raise _invalid(name, f"expected a string of at most {MAX_STRING} characters")
        return value
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _invalid(name, "expected a number")
        return value
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise _invalid(name, "expected true or false")
        return value
    if type_ == "date":
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError(value)
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _invalid(name, "expected a date (YYYY-MM-DD)") from None
    if type_ == "enum":
        if value not in options:
            raise _invalid(name, f"expected one of {', '.join(options)}")
        return value
    raise _invalid(name, f"unknown type {type_}")


def apply_attributes(
    current: dict[str, Any], changes: dict[str, Any], defined: Definitions
) -> dict[str, Any]:
    """`current` with `changes` applied (a null removes the value), each checked against `defined`."""
    updated = dict(current)
    for name, value in changes.items():
        if value is None:
            if name not in defined and name not in updated:
                raise _invalid(name, "no such attribute is defined")
            updated.pop(name, None)
        else:
            updated[name] = check_value(name, value, defined.get(name))
    return updated
