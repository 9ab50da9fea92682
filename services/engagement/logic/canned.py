"""Canned responses: saved answers with per-language variants and `{{variable}}` placeholders.

Rendering is one pass of plain substitution: `{{name}}` is replaced by the value given for `name` (a
value is never read as a template itself), and nothing else in the text is interpreted. A variant is
checked when saved: any `{{` or `}}` outside a well-formed placeholder is refused. Rendering refuses a
variable the text uses but no value was given for, and a value given for a variable the text does not
use (a misspelt name would otherwise vanish silently). The variant is the conversation's language, else
its primary subtag (`pt` for `pt-br`), else the response's default language.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.errors import CannedResponseConflict, CannedResponseNotFound, InvalidCannedResponse
from services.engagement.models import CannedResponse
from services.engagement.replies_schemas import (
    PLACEHOLDER,
    CannedResponseCreate,
    CannedResponsePage,
    CannedResponseRead,
    CannedResponseUpdate,
    variables_of,
)
from shared.db import utcnow
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.engagement.canned")

# Filled from the conversation and the author when a text uses them and the caller gave no value.
AUTOMATIC_VARIABLES = frozenset({"first_name", "customer_name", "customer_handle", "agent_name"})


def check_template(text: str, *, language: str) -> None:
    """Refuse a variant with braces that are not a well-formed `{{name}}` placeholder."""
    rest = PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise InvalidCannedResponse(
            f"The {language} variant has a malformed placeholder: write `{{{{name}}}}` with a lower-case "
            "name of letters, digits and underscores."
        )


def pick_variant(variants: dict[str, str], *, default_language: str, language: str | None) -> str:
    """The variant for a language: exact, then its primary subtag, then the default language's."""
    if language:
        language = language.lower()
        if language in variants:
            return variants[language]
        primary = language.split("-", 1)[0]
        if primary in variants:
            return variants[primary]
    return variants[default_language]


def fill(text: str, variables: dict[str, str]) -> str:
    """Substitute every placeholder in one pass (values are never expanded again)."""
    used = variables_of(text)
    missing = sorted(used - variables.keys())
    if missing:
        raise InvalidCannedResponse(
            f"The canned response needs a value for: {', '.join(missing)}.", missing=missing
        )
    unknown = sorted(variables.keys() - used)
    if unknown:
        raise InvalidCannedResponse(
            f"The canned response does not use these variables: {', '.join(unknown)}.", unknown=unknown
        )
    return PLACEHOLDER.sub(lambda match: variables[match.group(1)], text)


async def render_canned(
    session: AsyncSession,
    *,
    tenant_id: str,
    canned_id: str,
    language: str | None,
    variables: dict[str, str],
) -> str:
    """The tenant's canned response in the language's variant (or the default), its variables filled.

    CannedResponseNotFound (404) for an unknown id or another tenant's; InvalidCannedResponse (422) for
    a variable used and not given, or given and not used."""
    canned = await get_scoped(
        session, CannedResponse, tenant_id=tenant_id, id=canned_id, error=CannedResponseNotFound
    )
    text = pick_variant(
        json.loads(canned.variants), default_language=canned.default_language, language=language
    )
    return fill(text, variables)


async def canned_text(session: AsyncSession, *, tenant_id: str, canned_id: str, language: str | None) -> str:
    """The unfilled variant of a canned response for a language (to see which variables it uses)."""
    canned = await get_scoped(
        session, CannedResponse, tenant_id=tenant_id, id=canned_id, error=CannedResponseNotFound
    )
    return pick_variant(
        json.loads(canned.variants), default_language=canned.default_language, language=language
    )


def _check(variants: dict[str, str]) -> None:
    for language, text in variants.items():
        check_template(text, language=language)


async def create_canned(
    session: AsyncSession, *, tenant_id: str, canned_in: CannedResponseCreate, created_by: str
) -> CannedResponseRead:
    _check(canned_in.variants)
    now = utcnow()
    canned = CannedResponse(
        tenant_id=tenant_id,
        name=canned_in.name,
        default_language=canned_in.default_language,
        variants=json.dumps(canned_in.variants, ensure_ascii=False, sort_keys=True),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(canned)
    await _commit(session)
    log.info("canned.created", extra={"tenant_id": tenant_id, "canned_id": canned.id})
    return CannedResponseRead.model_validate(canned, from_attributes=True)


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise CannedResponseConflict("The tenant already has a canned response of that name.") from None


async def get_canned(session: AsyncSession, *, tenant_id: str, canned_id: str) -> CannedResponseRead:
    canned = await get_scoped(
        session, CannedResponse, tenant_id=tenant_id, id=canned_id, error=CannedResponseNotFound
    )
    return CannedResponseRead.model_validate(canned, from_attributes=True)


async def update_canned(
    session: AsyncSession, *, tenant_id: str, canned_id: str, update_in: CannedResponseUpdate
) -> CannedResponseRead:
    given = update_in.model_fields_set
    for name in given:
        if getattr(update_in, name) is None:
            raise InvalidCannedResponse(f"`{name}` may not be null.")
    canned = await get_scoped(
        session, CannedResponse, tenant_id=tenant_id, id=canned_id, error=CannedResponseNotFound
    )
    variants: dict[str, str] = json.loads(canned.variants)
    if update_in.variants is not None:
        _check(update_in.variants)
        variants = update_in.variants
    default_language = update_in.default_language or canned.default_language
    if default_language not in variants:
        raise InvalidCannedResponse("`default_language` must be one of the variants' languages.")
    if update_in.name is not None:
        canned.name = update_in.name
    canned.variants = json.dumps(variants, ensure_ascii=False, sort_keys=True)
    canned.default_language = default_language
    canned.updated_at = utcnow()
    session.add(canned)
    await _commit(session)
    log.info("canned.updated", extra={"tenant_id": tenant_id, "canned_id": canned.id})
    return CannedResponseRead.model_validate(canned, from_attributes=True)


async def delete_canned(session: AsyncSession, *, tenant_id: str, canned_id: str) -> None:
    canned = await get_scoped(
        session, CannedResponse, tenant_id=tenant_id, id=canned_id, error=CannedResponseNotFound
    )
    await session.delete(canned)
    await session.commit()
    log.info("canned.deleted", extra={"tenant_id": tenant_id, "canned_id": canned_id})


async def list_canned(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None
) -> CannedResponsePage:
    rows, next_cursor = await page_of(reader, CannedResponse, tenant_id=tenant_id, limit=limit, cursor=cursor)
    return CannedResponsePage.model_validate(
        {"items": rows, "next_cursor": next_cursor}, from_attributes=True
    )
