"""Staff edits of a profile: custom attribute values, tags and the display name."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import ProfileMerged, ProfileNotFound
from services.profiles.logic.attributes import apply_attributes, definitions
from services.profiles.logic.profiles import get_profile
from services.profiles.logic.segments import refresh_memberships
from services.profiles.logic.snapshot import snapshot
from services.profiles.logic.tags import apply_tags
from services.profiles.models import Profile
from services.profiles.schemas import ProfileRead, ProfileUpdate
from shared.db import utcnow
from shared.events.contracts import ProfileUpdated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.reads import SessionReader
from shared.tenancy import scoped

log = logging.getLogger("rapport.profiles")

SOURCE = "profiles"


async def update_profile(
    session: AsyncSession, *, tenant_id: str, profile_id: str, changes: ProfileUpdate
) -> ProfileRead:
    """Apply a staff edit; when something changed, re-evaluate the profile's segments and stage
    `profiles.profile.updated` (the fields changed and the snapshot) in the same transaction."""
    stmt = scoped(Profile, tenant_id).where(Profile.id == profile_id).with_for_update()
    profile = (await session.execute(stmt)).scalars().first()
    if profile is None:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    if profile.merged_into is not None:
        raise ProfileMerged(f"Profile {profile_id} was merged into {profile.merged_into}: edit that one.")
    changed: list[str] = []
    given = changes.model_fields_set
    if changes.attributes is not None:
        attributes = apply_attributes(
            profile.attributes or {}, changes.attributes, await definitions(session, tenant_id)
        )
        if attributes != profile.attributes:
            profile.attributes = attributes
            changed.append("attributes")
    if changes.tags is not None:
        tags = apply_tags(list(profile.tags or []), changes.tags.add, changes.tags.remove)
        if tags != profile.tags:
            profile.tags = tags
            changed.append("tags")
    if "display_name" in given and changes.display_name != profile.display_name:
        profile.display_name = changes.display_name
        changed.append("display_name")
    if changed:
        profile.updated_at = utcnow()
        session.add(profile)
        memberships = await refresh_memberships(session, tenant_id, [profile.id])
        stage(
            session,
            new_event(
                ProfileUpdated(
                    profile_id=profile.id,
                    changed=changed,
                    profile=snapshot(profile, segment_ids=memberships.get(profile.id, [])),
                ),
                source=SOURCE,
                tenant_id=tenant_id,
                subject=profile.id,
            ),
        )
        await session.commit()
        log.info(
            "profile.updated", extra={"tenant_id": tenant_id, "profile_id": profile_id, "changed": changed}
        )
    else:
        await session.rollback()
    return await get_profile(SessionReader(session), tenant_id=tenant_id, profile_id=profile_id)
