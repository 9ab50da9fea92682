"""Staff notes on profiles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import ProfileNotFound
from services.profiles.models import Profile, ProfileNote
from services.profiles.schemas import NoteCreate, NotePage, NoteRead
from shared.pagination import page_of

_P = Profile.__table__  # type: ignore[attr-defined]


async def ensure_profile(session: AsyncSession, *, tenant_id: str, profile_id: str) -> None:
    """`ProfileNotFound` unless the tenant has this profile."""
    stmt = select(_P.c.id).where(_P.c.tenant_id == tenant_id, _P.c.id == profile_id)
    if (await session.execute(stmt)).first() is None:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")


async def list_notes(
    session: AsyncSession, *, tenant_id: str, profile_id: str, limit: int, cursor: str | None
) -> NotePage:
    """A profile's notes, newest first."""
    await ensure_profile(session, tenant_id=tenant_id, profile_id=profile_id)
    rows, next_cursor = await page_of(
        session, ProfileNote, tenant_id=tenant_id, limit=limit, cursor=cursor, profile_id=profile_id
    )
    return NotePage.model_validate({"items": [row._mapping for row in rows], "next_cursor": next_cursor})


async def create_note(
    session: AsyncSession, *, tenant_id: str, profile_id: str, author_id: str, note: NoteCreate
) -> NoteRead:
    """Add a note to a profile; its author is the caller."""
    await ensure_profile(session, tenant_id=tenant_id, profile_id=profile_id)
    row = ProfileNote(tenant_id=tenant_id, profile_id=profile_id, author_id=author_id, body=note.body)
    session.add(row)
    await session.commit()
    return NoteRead.model_validate(row, from_attributes=True)
