"""Reads of profiles and their timelines."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, literal, select

from services.profiles.errors import ProfileNotFound
from services.profiles.logic.normalise import normalise_handle
from services.profiles.logic.segments import profile_filter_params, profile_filters
from services.profiles.models import Identifier, Interaction, Profile
from services.profiles.schemas import InteractionPage, ProfilePage, ProfileRead
from shared.pagination import cut, keyset_bound, page_params
from shared.reads import Reader

# Reads are one Core statement each (no ORM objects, one database round trip): under load a page of
# profiles cost ~20x the process's `/healthz` through the ORM with a second query for the handles
# (bench/reads.py, docs/performance.md).
_P = Profile.__table__  # type: ignore[attr-defined]
_H = Identifier.__table__  # type: ignore[attr-defined]
_I = Interaction.__table__  # type: ignore[attr-defined]


def _with_handles(profiles: Any) -> Select[Any]:
    """The `profiles` rows, each with its handles (one row per handle, or one with NULLs), in order."""
    # Joined by the profile's id alone: `profiles` is already the tenant's, and a handle belongs to its
    # profile's tenant. A tenant condition here let SQLite (no statistics) look the handles up by the
    # tenant's index instead of the profile's, reading every handle of the tenant for each profile
    # (a page of 20 profiles of a tenant with 1,000 cost ~4 ms in the database alone).
    handle = and_(_H.c.profile_id == profiles.c.id, _H.c.kind == literal("handle"))
    return (
        select(profiles, _H.c.namespace.label("handle_platform"), _H.c.value.label("handle"))
        .select_from(profiles.outerjoin(_H, handle))
        .order_by(profiles.c.created_at.desc(), profiles.c.id.desc(), _H.c.created_at, _H.c.id)
    )


# One profile by id (`tenant_id`, `profile_id`).
_ONE = _with_handles(
    select(_P).where(_P.c.tenant_id == bindparam("tenant_id"), _P.c.id == bindparam("profile_id")).subquery()
)
_EXISTS = select(_P.c.id).where(_P.c.tenant_id == bindparam("tenant_id"), _P.c.id == bindparam("profile_id"))
# A page of a profile's timeline (`tenant_id`, `profile_id`, `page_params`).
_TIMELINE = {
    after: keyset_bound(
        select(_I).where(
            _I.c.tenant_id == bindparam("tenant_id"), _I.c.profile_id == bindparam("profile_id")
        ),
        _I.c.occurred_at,
        _I.c.id,
        after=after,
    )
    for after in (False, True)
}


@functools.cache
def _page(
    *,
    after: bool,
    by_handle: bool,
    by_platform: bool,
    by_segment: bool = False,
    by_tag: bool = False,
    by_stage: bool = False,
) -> Select[Any]:
    """A page of profiles with their handles (`tenant_id`, `page_params`, `handle`, `platform`, and
    `profile_filter_params`)."""
    stmt = select(_P).where(_P.c.tenant_id == bindparam("tenant_id"))
    stmt = stmt.where(*profile_filters(segment=by_segment, tag=by_tag, lifecycle_stage=by_stage))
    if by_handle or by_platform:
        matching = select(_H.c.profile_id).where(
            _H.c.tenant_id == bindparam("tenant_id"), _H.c.kind == literal("handle")
        )
        if by_handle:
            matching = matching.where(_H.c.value_normalised == bindparam("handle"))
        if by_platform:
            matching = matching.where(_H.c.namespace == bindparam("platform"))
        stmt = stmt.where(_P.c.id.in_(matching))
    return _with_handles(keyset_bound(stmt, _P.c.created_at, _P.c.id, after=after).subquery())


def _group(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Profiles (as `ProfileRead` input) from rows of `_with_handles`, in the rows' order."""
    profiles: dict[str, dict[str, Any]] = {}
    for row in rows:
        profile = profiles.get(row.id)
        if profile is None:
            count = row.mention_count
            average = round(row.sentiment_sum / count, 3) if count else None
            profile = profiles[row.id] = {
                **row._mapping,
                "handles": [],
                "sentiment": {
                    "average": average,
                    "trend": round(row.sentiment_trend, 3),
                    "last_label": row.last_sentiment,
                },
            }
        if row.handle is not None:
            profile["handles"].append({"platform": row.handle_platform, "handle": row.handle})
    return list(profiles.values())


async def get_profile(reader: Reader, *, tenant_id: str, profile_id: str) -> ProfileRead:
    """One profile of the tenant with its handles, or `ProfileNotFound`."""
    rows = await reader.all(_ONE, {"tenant_id": tenant_id, "profile_id": profile_id})
    found = _group(rows)
    if not found:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    return ProfileRead.model_validate(found[0])


async def list_profiles(
    reader: Reader,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    handle: str | None = None,
    platform: str | None = None,
    segment_id: str | None = None,
    tag: str | None = None,
    lifecycle_stage: str | None = None,
) -> ProfilePage:
    """The tenant's profiles, newest first; `handle` (normalised) and `platform` narrow by handle,
    `segment_id`, `tag` and `lifecycle_stage` by membership, tag and stage."""
    stmt = _page(
        after=bool(cursor),
        by_handle=handle is not None,
        by_platform=platform is not None,
        by_segment=segment_id is not None,
        by_tag=tag is not None,
        by_stage=lifecycle_stage is not None,
    )
    params = {
        **profile_filter_params(segment_id=segment_id, tag=tag, lifecycle_stage=lifecycle_stage),
        "tenant_id": tenant_id,
        **page_params(limit=limit, cursor=cursor),
        "handle": None if handle is None else normalise_handle(handle),
        "platform": platform,
    }
    rows, next_cursor = cut(_group(await reader.all(stmt, params)), limit=limit)
    return ProfilePage.model_validate({"items": rows, "next_cursor": next_cursor})


async def get_timeline(
    reader: Reader, *, tenant_id: str, profile_id: str, limit: int, cursor: str | None
) -> InteractionPage:
    """A profile's interactions, the latest to happen first; another tenant's profile is not found."""
    ids = {"tenant_id": tenant_id, "profile_id": profile_id}
    stmt = _TIMELINE[bool(cursor)]
    rows = await reader.all(stmt, {**ids, **page_params(limit=limit, cursor=cursor)})
    # An empty page: is the profile there at all? (Asked only now, so a page costs one query.)
    if not rows and await reader.first(_EXISTS, ids) is None:
        raise ProfileNotFound(f"Profile {profile_id} was not found.")
    items = rows[:limit]
    # The timeline is ordered by when the interactions happened: the cursor holds that time.
    _, next_cursor = cut([{"created_at": row.occurred_at, "id": row.id} for row in rows], limit=limit)
    return InteractionPage.model_validate(
        {"items": [_interaction(row) for row in items], "next_cursor": next_cursor}
    )


def _interaction(row: Any) -> dict[str, Any]:
    return {**row._mapping, "mention_id": row.ref_id if row.kind == "mention" else None}
