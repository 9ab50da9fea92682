"""Staff notes on profiles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import ProfileNotFound
from services.profiles.models import Profile, ProfileNote
from services.profiles.schemas import NoteCreate, NotePage, NoteRead
from shared.pagination import page_of
from shared.reads import Reader, SessionReader

_P = Profile.__table__  # type: ignore[attr-defined]
# A profile of the tenant (`tenant_id`, `profile_id`): its id and the profile it was merged into.
PROFILE_REF = select(_P.c.id, _P.c.merged_into).where(
    _P.c.tenant_id == bindparam("tenant_id"), _P.c.id == bindparam("profile_id")
)


async def profile_ref(reader: Reader, *, tenant_id: str, profile_id: str) -> Any:
    """The tenant's profile as `PROFILE_REF` reads it (`SessionReader` inside a write's transaction);
    `ProfileNotFound` unless the tenant has this profile."""
    row = await reader.first(PROFILE_REF, {"tenant_id": tenant_id, "profile_id": profile_id})
    if row is None:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    return row


async def list_notes(
    reader: Reader, *, tenant_id: str, profile_id: str, limit: int, cursor: str | None
) -> NotePage:
    """A profile's notes, newest first."""
    await profile_ref(reader, tenant_id=tenant_id, profile_id=profile_id)
    rows, next_cursor = await page_of(
        reader,
        ProfileNote,
        tenant_id=tenant_id,
        limit=limit,
        cursor=cursor,
        shape=NoteRead,
        profile_id=profile_id,
    )
    return NotePage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def create_note(
    session: AsyncSession, *, tenant_id: str, profile_id: str, author_id: str, note: NoteCreate
) -> NoteRead:
    """Add a note to a profile; its author is the caller."""
    await profile_ref(SessionReader(session), tenant_id=tenant_id, profile_id=profile_id)
    row = ProfileNote(tenant_id=tenant_id, profile_id=profile_id, author_id=author_id, body=note.body)
    session.add(row)
    await session.commit()
    return NoteRead.model_validate(row, from_attributes=True)
