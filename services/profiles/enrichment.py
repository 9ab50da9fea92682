"""profiles' routes for staff enrichment: custom attributes, profile edits (attributes, tags, display
name), notes, and segments with their members (JSON pages or a CSV export)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis

from services.profiles.logic.attributes import create_definition, delete_definition, list_definitions
from services.profiles.logic.consent_effects import ConsentNotReady, Refusing, Withhold, refusing
from services.profiles.logic.edits import update_profile
from services.profiles.logic.notes import create_note, list_notes
from services.profiles.logic.segments import (
    create_segment,
    delete_segment,
    export_members,
    get_segment,
    list_members,
    list_segments,
    member_ids,
)
from services.profiles.schemas import (
    AttributeDefinitionCreate,
    AttributeDefinitionPage,
    AttributeDefinitionRead,
    NoteCreate,
    NotePage,
    NoteRead,
    ProfileRead,
    ProfileUpdate,
    SegmentCreate,
    SegmentMemberPage,
    SegmentPage,
    SegmentRead,
)
from shared import consent
from shared.auth import ADMINS, STAFF, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

# Staff read; agents (and admins) edit profiles and write notes; analysts build segments too; admins
# define the tenant's attributes.
EDITORS = ("owner", "admin", "agent")
SEGMENT_EDITORS = ("owner", "admin", "agent", "analyst")
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Editor = Annotated[Principal, Depends(require_roles(*EDITORS))]
SegmentEditor = Annotated[Principal, Depends(require_roles(*SEGMENT_EDITORS))]
Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]

router = APIRouter(tags=["profile enrichment"])


# --- custom attributes ---------------------------------------------------------------------------------


@router.get(
    "/v1/profile-attributes",
    response_model=AttributeDefinitionPage,
    operation_id="list_profile_attributes",
    summary="List custom attributes",
)
async def get_attributes(
    principal: Staff, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> AttributeDefinitionPage:
    """The tenant's custom profile attributes (name, type, enum options), newest first."""
    return await list_definitions(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.post(
    "/v1/profile-attributes",
    status_code=201,
    response_model=AttributeDefinitionRead,
    operation_id="create_profile_attribute",
    summary="Define a custom attribute",
    responses=problems(409),
)
async def post_attribute(
    definition: AttributeDefinitionCreate, principal: Admin, session: SessionDep
) -> AttributeDefinitionRead:
    """Define a typed attribute (`string`, `number`, `boolean`, `date`, or `enum` with its options); a name
    already defined is a 409."""
    return await create_definition(session, tenant_id=principal.tenant_id, definition=definition)


@router.delete(
    "/v1/profile-attributes/{name}",
    status_code=204,
    response_class=Response,
    operation_id="delete_profile_attribute",
    summary="Delete a custom attribute",
    responses=problems(404),
)
async def remove_attribute(name: str, principal: Admin, session: SessionDep) -> Response:
    """Forget a definition; values profiles already hold stay until removed (`null` in a PATCH)."""
    await delete_definition(session, tenant_id=principal.tenant_id, name=name)
    return Response(status_code=204)


# --- profile edits and notes ---------------------------------------------------------------------------


@router.patch(
    "/v1/profiles/{profile_id}",
    response_model=ProfileRead,
    operation_id="update_profile",
    summary="Edit a profile's attributes, tags or display name",
    responses=problems(404, 409),
)
async def patch_profile(
    profile_id: str, changes: ProfileUpdate, principal: Editor, session: SessionDep
) -> ProfileRead:
    """Set custom attribute values (typed by their definitions; `null` removes one; an undefined or
    ill-typed one is a 422 naming it), add and remove tags (trimmed, case-folded, at most 50 characters,
    at most 100 per profile) and set the display name. Publishes `profiles.profile.updated`; a merged-away
    profile is a 409."""
    return await update_profile(
        session, tenant_id=principal.tenant_id, profile_id=profile_id, changes=changes
    )


@router.get(
    "/v1/profiles/{profile_id}/notes",
    response_model=NotePage,
    operation_id="list_profile_notes",
    summary="List a profile's notes",
    responses=problems(404),
)
async def get_notes(
    profile_id: str,
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> NotePage:
    """A profile's notes, newest first."""
    return await list_notes(
        reader, tenant_id=principal.tenant_id, profile_id=profile_id, limit=limit, cursor=cursor
    )


@router.post(
    "/v1/profiles/{profile_id}/notes",
    status_code=201,
    response_model=NoteRead,
    operation_id="create_profile_note",
    summary="Add a note to a profile",
    responses=problems(404),
)
async def post_note(profile_id: str, note: NoteCreate, principal: Editor, session: SessionDep) -> NoteRead:
    """Add a note (at most 5,000 characters); its author is the caller."""
    return await create_note(
        session, tenant_id=principal.tenant_id, profile_id=profile_id, author_id=principal.user_id, note=note
    )


# --- segments ------------------------------------------------------------------------------------------


@router.post(
    "/v1/segments",
    status_code=201,
    response_model=SegmentRead,
    operation_id="create_segment",
    summary="Create a segment",
)
async def post_segment(
    segment_in: SegmentCreate, principal: SegmentEditor, session: SessionDep, request: Request
) -> SegmentRead:
    """Create a segment from a rule over profile fields (e.g. `lifecycle = customer AND sentiment_trend <
    -0.3 AND influence > 70`) and fill its members; an invalid rule is a 422 pointing at the position.
    A person who withdrew from or objected to profiling is never a member (while the consent projection
    is not ready: 503)."""
    tenant_id = principal.tenant_id
    redis = request.app.state.runtime.redis
    return await create_segment(
        session, tenant_id=tenant_id, segment_in=segment_in, refusing=_api_refusing(redis, tenant_id)
    )


def _api_refusing(redis: Redis, tenant_id: str) -> Refusing:
    """`refusing` for a request: the projection not ready is a 503, not a retry."""
    ask = refusing(redis, tenant_id)

    async def call(profile_ids: Sequence[str]) -> set[str]:
        try:
            return await ask(profile_ids)
        except ConsentNotReady:
            raise consent.unknown() from None

    return call


@router.get("/v1/segments", response_model=SegmentPage, operation_id="list_segments", summary="List segments")
async def get_segments(
    principal: Staff, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> SegmentPage:
    """The tenant's segments with their member counts, newest first."""
    return await list_segments(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.get(
    "/v1/segments/{segment_id}",
    response_model=SegmentRead,
    operation_id="get_segment",
    summary="Get a segment",
    responses=problems(404),
)
async def read_segment(segment_id: str, principal: Staff, reader: ReaderDep) -> SegmentRead:
    """One segment with its rule and member count."""
    return await get_segment(reader, tenant_id=principal.tenant_id, segment_id=segment_id)


@router.delete(
    "/v1/segments/{segment_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_segment",
    summary="Delete a segment",
    responses=problems(404),
)
async def remove_segment(segment_id: str, principal: SegmentEditor, session: SessionDep) -> Response:
    """Delete a segment and its memberships (the profiles stay)."""
    await delete_segment(session, tenant_id=principal.tenant_id, segment_id=segment_id)
    return Response(status_code=204)


@router.get(
    "/v1/segments/{segment_id}/members",
    response_model=SegmentMemberPage,
    operation_id="list_segment_members",
    summary="List or export a segment's members",
    responses={
        **problems(404, 503),
        200: {
            "description": "A page of members (JSON), or with `format=csv` every member as CSV.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
async def read_members(
    segment_id: str,
    request: Request,
    principal: Staff,
    reader: ReaderDep,
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` streams every member.")] = "json",
    purpose: Annotated[
        Literal["marketing"] | None,
        Query(description="`marketing`: only the members with a lawful basis for marketing."),
    ] = None,
) -> SegmentMemberPage | StreamingResponse:
    """A page of the segment's members (profile summaries, in a stable order by profile id); with `format=csv`
    every member as CSV with a header row (id, display_name, lifecycle_stage, sentiment_trend, influence,
    lifetime_value, tags, first_seen_at, last_seen_at), streamed.

    `purpose=marketing` (an export for outreach): members without a lawful basis for marketing (by
    default their consent; a withdrawal, an objection or a restriction) are left out, not refused for
    the whole list: the page says how many in `withheld` (and may hold fewer than `limit` items); the CSV
    holds only the others, and the `X-Rapport-Withheld` header counts those left out of the whole file.
    Every member's decision is written to the audit log. The consent projection not ready: 503."""
    withhold = None
    if purpose is not None:
        withhold = Withhold(
            request.app.state.runtime.redis,
            session,
            tenant_id=principal.tenant_id,
            purpose=purpose,
            actor_id=principal.user_id,
            actor_kind="user" if principal.scopes is None else "api_key",
            path=request.url.path,
            request_id=request.headers.get("x-request-id"),
        )
    if format == "csv" or request.headers.get("accept", "").startswith("text/csv"):
        # Asked now so that an unknown segment is a 404, not an empty file.
        await get_segment(reader, tenant_id=principal.tenant_id, segment_id=segment_id)
        headers = {"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'}
        only: set[str] | None = None
        if withhold is not None:
            # Decided (and audited) before the first byte: the header can say how many were left out.
            ids = await member_ids(reader, tenant_id=principal.tenant_id, segment_id=segment_id)
            only = set(ids) - await withhold(ids)
            headers["X-Rapport-Purpose"] = withhold.purpose
            headers["X-Rapport-Withheld"] = str(withhold.withheld)
        rows = export_members(reader, tenant_id=principal.tenant_id, segment_id=segment_id, only=only)
        return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers=headers)
    return await list_members(
        reader,
        tenant_id=principal.tenant_id,
        segment_id=segment_id,
        limit=limit,
        cursor=cursor,
        withhold=withhold,
    )
