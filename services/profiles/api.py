"""profiles' routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.profiles.logic.profiles import get_profile, get_timeline, list_profiles
from services.profiles.schemas import InteractionPage, OutreachQuery, ProfilePage, ProfileRead
from shared.auth import STAFF, Principal, require_roles
from shared.events.contracts import LifecycleStage
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]


@router.get("", response_model=ProfilePage, operation_id="list_profiles", summary="List profiles")
async def get_profiles(
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    handle: Annotated[str | None, Query(min_length=1, max_length=101)] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    segment_id: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    lifecycle_stage: LifecycleStage | None = None,
) -> ProfilePage:
    """List the tenant's profiles, newest first; find one by `handle` (any case, `@` optional); narrow to
    a segment's members, a tag or a lifecycle stage."""
    return await list_profiles(
        reader,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        handle=handle,
        platform=platform,
        segment_id=segment_id,
        tag=tag,
        lifecycle_stage=lifecycle_stage,
    )


@router.get(
    "/{profile_id}",
    response_model=ProfileRead,
    operation_id="get_profile",
    summary="Get a profile",
    responses=problems(404),
)
async def read_profile(
    profile_id: str, principal: Staff, reader: ReaderDep, purpose: OutreachQuery = None
) -> ProfileRead:
    """One profile with its handles, counters and sentiment (`purpose=marketing`: read for outreach)."""
    return await get_profile(reader, tenant_id=principal.tenant_id, profile_id=profile_id)


@router.get(
    "/{profile_id}/timeline",
    response_model=InteractionPage,
    operation_id="list_profile_timeline",
    summary="List a profile's interactions",
    responses=problems(404),
)
async def read_timeline(
    profile_id: str,
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> InteractionPage:
    """A profile's interactions (its mentions), most recent first."""
    return await get_timeline(
        reader, tenant_id=principal.tenant_id, profile_id=profile_id, limit=limit, cursor=cursor
    )
