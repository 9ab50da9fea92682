"""Reads of profiles and their timelines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.profiles.errors import ProfileNotFound
from services.profiles.logic.resolution import normalise_handle
from services.profiles.models import Handle, Interaction, Profile
from services.profiles.schemas import (
    HandleRead,
    InteractionPage,
    InteractionRead,
    ProfilePage,
    ProfileRead,
    ProfileSentiment,
)
from shared.pagination import paginate
from shared.tenancy import get_scoped, scoped


async def _handles_of(
    session: AsyncSession,
    *,
    tenant_id: str,
    profile_ids: Sequence[str],
) -> dict[str, list[HandleRead]]:
    if not profile_ids:
        return {}
    stmt = (
        scoped(Handle, tenant_id)
        .where(col(Handle.profile_id).in_(profile_ids))
        .order_by(col(Handle.created_at), col(Handle.id))
    )
    out: dict[str, list[HandleRead]] = defaultdict(list)
    for handle in (await session.execute(stmt)).scalars():
        out[handle.profile_id].append(HandleRead(platform=handle.platform, handle=handle.handle))
    return out


def _to_read(profile: Profile, handles: list[HandleRead]) -> ProfileRead:
    average = round(profile.sentiment_sum / profile.mention_count, 3) if profile.mention_count else None
    return ProfileRead(
        id=profile.id,
        display_name=profile.display_name,
        handles=handles,
        followers=profile.followers,
        influence=profile.influence,
        mention_count=profile.mention_count,
        sentiment=ProfileSentiment(average=average, last_label=profile.last_sentiment),
        lifecycle_stage=profile.lifecycle_stage,
        first_seen_at=profile.first_seen_at,
        last_seen_at=profile.last_seen_at,
        created_at=profile.created_at,
    )


async def get_profile(session: AsyncSession, *, tenant_id: str, profile_id: str) -> ProfileRead:
    """One profile of the tenant with its handles, or `ProfileNotFound`."""
    profile = await get_scoped(session, Profile, tenant_id=tenant_id, id=profile_id, error=ProfileNotFound)
    handles = await _handles_of(session, tenant_id=tenant_id, profile_ids=[profile.id])
    return _to_read(profile, handles.get(profile.id, []))


async def list_profiles(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    handle: str | None = None,
    platform: str | None = None,
) -> ProfilePage:
    """The tenant's profiles, newest first; `handle` (normalised) and `platform` narrow by handle."""
    stmt = scoped(Profile, tenant_id)
    if handle is not None or platform is not None:
        matching = select(Handle.profile_id).where(Handle.tenant_id == tenant_id)
        if handle is not None:
            matching = matching.where(Handle.handle_normalised == normalise_handle(handle))
        if platform is not None:
            matching = matching.where(Handle.platform == platform)
        stmt = stmt.where(col(Profile.id).in_(matching))
    rows, next_cursor = await paginate(session, stmt, Profile, limit=limit, cursor=cursor)
    handles = await _handles_of(session, tenant_id=tenant_id, profile_ids=[p.id for p in rows])
    return ProfilePage(items=[_to_read(p, handles.get(p.id, [])) for p in rows], next_cursor=next_cursor)


async def get_timeline(
    session: AsyncSession, *, tenant_id: str, profile_id: str, limit: int, cursor: str | None
) -> InteractionPage:
    """A profile's interactions, most recently recorded first; another tenant's profile is not found."""
    await get_scoped(session, Profile, tenant_id=tenant_id, id=profile_id, error=ProfileNotFound)
    stmt = scoped(Interaction, tenant_id).where(Interaction.profile_id == profile_id)
    rows, next_cursor = await paginate(session, stmt, Interaction, limit=limit, cursor=cursor)
    items = [InteractionRead.model_validate(row, from_attributes=True) for row in rows]
    return InteractionPage(items=items, next_cursor=next_cursor)
