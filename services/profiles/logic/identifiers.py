"""Identifiers: how each kind is normalised, and which links are strong enough to merge profiles."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import IdentifierTaken, InvalidIdentifierValue
from services.profiles.errors import ProfileMerged as ProfileMergedError
from services.profiles.logic.normalise import NAMESPACED, InvalidIdentifier, is_strong, normalise
from services.profiles.logic.notes import profile_ref
from services.profiles.models import Identifier, new_id
from services.profiles.schemas import IdentifierCreate, IdentifierList, IdentifierRead
from shared.db import begin_immediate, utcnow
from shared.reads import Reader, SessionReader, columns_of

_ID = Identifier.__table__  # type: ignore[attr-defined]
# A profile's identifiers, oldest first (`tenant_id`, `profile_id`).
_OF_PROFILE = (
    select(*columns_of(_ID, IdentifierRead))
    .where(_ID.c.tenant_id == bindparam("tenant_id"), _ID.c.profile_id == bindparam("profile_id"))
    .order_by(_ID.c.created_at, _ID.c.id)
)


async def list_identifiers(reader: Reader, *, tenant_id: str, profile_id: str) -> IdentifierList:
    """The profile's identifiers, oldest first; `ProfileNotFound` when it is not the tenant's."""
    await profile_ref(reader, tenant_id=tenant_id, profile_id=profile_id)
    rows = await reader.all(_OF_PROFILE, {"tenant_id": tenant_id, "profile_id": profile_id})
    return IdentifierList.model_validate({"items": rows}, from_attributes=True)


async def attach_identifier(
    session: AsyncSession, *, tenant_id: str, profile_id: str, body: IdentifierCreate, actor: str
) -> tuple[IdentifierRead, bool]:
    """An agent attaches an identifier to a profile and commits; (the identifier, whether it is new).

    Already on this profile: nothing changes. Strongly attached to another profile and attested now
    (`verified` or `agent`): that profile is merged into this one (reason `agent`). Weakly attached
    elsewhere, or attested `unverified`: `IdentifierTaken`."""
    from services.profiles.logic.merges import merge_profiles

    table = Identifier.__table__  # type: ignore[attr-defined]
    await begin_immediate(session)
    found = await profile_ref(SessionReader(session), tenant_id=tenant_id, profile_id=profile_id)
    if found.merged_into is not None:
        raise ProfileMergedError(f"Profile {profile_id} was merged into {found.merged_into}.")
    namespace = body.namespace.strip() if body.kind in NAMESPACED else ""
    try:
        normalised = normalise(body.kind, body.value)
    except InvalidIdentifier as exc:
        raise InvalidIdentifierValue(str(exc)) from None
    key = (table.c.tenant_id == tenant_id, table.c.kind == body.kind, table.c.namespace == namespace)
    current = (
        await session.execute(select(table).where(*key, table.c.value_normalised == normalised))
    ).first()
    created = current is None
    if current is not None and current.profile_id != profile_id:
        if not (is_strong(current.kind, current.evidence) and body.evidence in ("verified", "agent")):
            raise IdentifierTaken("The identifier is on another profile; merge the two profiles instead.")
        await merge_profiles(
            session,
            tenant_id=tenant_id,
            survivor_id=profile_id,
            merged_id=current.profile_id,
            reason="agent",
            actor=f"agent:{actor}",
            evidence={"identifier_id": current.id, "evidence": body.evidence},
        )
    if current is None:
        row = {
            "id": new_id(),
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "kind": body.kind,
            "namespace": namespace,
            "value": body.value.strip(),
            "value_normalised": normalised,
            "evidence": body.evidence,
            "confidence": body.confidence,
            "source": f"agent:{actor}",
            "created_at": utcnow(),
        }
        await session.execute(table.insert().values(**row))
        identifier_id = row["id"]
    else:
        identifier_id = current.id
    read = (await session.execute(select(table).where(table.c.id == identifier_id))).one()
    await session.commit()
    return IdentifierRead.model_validate(read._mapping), created
