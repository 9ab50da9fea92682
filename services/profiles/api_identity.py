"""profiles' identity-graph routes: identifiers, merges and unmerges, match suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.profiles.logic.identifiers import attach_identifier, list_identifiers
from services.profiles.logic.merges import merge_by_request, unmerge_by_request
from services.profiles.schemas import (
    IdentifierCreate,
    IdentifierList,
    IdentifierRead,
    MergeRequest,
    MergeResult,
    UnmergeRequest,
    UnmergeResult,
)
from shared.auth import STAFF, Principal, require_roles
from shared.openapi import problems
from shared.service import ReadSessionDep, SessionDep

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
# Who may change the identity graph: the tenant's people who handle customers (not analysts, not
# integrations).
Agents = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]


@router.get(
    "/{profile_id}/identifiers",
    response_model=IdentifierList,
    operation_id="list_profile_identifiers",
    summary="List a profile's identifiers",
    responses=problems(404),
)
async def get_identifiers(profile_id: str, principal: Staff, session: ReadSessionDep) -> IdentifierList:
    """Every identifier on the profile, with the evidence, confidence and source of its link."""
    return await list_identifiers(session, tenant_id=principal.tenant_id, profile_id=profile_id)


@router.post(
    "/{profile_id}/identifiers",
    response_model=IdentifierRead,
    status_code=201,
    operation_id="create_profile_identifier",
    summary="Attach an identifier to a profile",
    responses=problems(404, 409, 422),
)
async def post_identifier(
    profile_id: str, body: IdentifierCreate, principal: Agents, session: SessionDep, response: Response
) -> IdentifierRead:
    """Attach an identifier (201; 200 when the profile has it already). Attested (`verified`/`agent`) while
    strongly attached to another profile, it merges that profile into this one."""
    identifier, created = await attach_identifier(
        session, tenant_id=principal.tenant_id, profile_id=profile_id, body=body, actor=principal.user_id
    )
    if not created:
        response.status_code = 200
    return identifier


@router.post(
    "/{profile_id}/merge",
    response_model=MergeResult,
    operation_id="merge_profiles",
    summary="Merge another profile into this one",
    responses=problems(404, 409),
)
async def post_merge(
    profile_id: str, body: MergeRequest, principal: Agents, session: SessionDep
) -> MergeResult:
    """The profile in the path survives; `other_id` answers with `merged_into` from now on. Reversible
    (`unmerge`); 409 when either was merged away already or both are one."""
    return await merge_by_request(
        session,
        tenant_id=principal.tenant_id,
        survivor_id=profile_id,
        other_id=body.other_id,
        actor=f"user:{principal.user_id}",
    )


@router.post(
    "/{profile_id}/unmerge",
    response_model=UnmergeResult,
    operation_id="unmerge_profile",
    summary="Split identifiers off a profile",
    responses=problems(404, 409, 422),
)
async def post_unmerge(
    profile_id: str, body: UnmergeRequest, principal: Agents, session: SessionDep
) -> UnmergeResult:
    """The identifiers, and the interactions that came in under them, go back to the profile they came
    from by a merge (restored as it was), else to a new profile."""
    return await unmerge_by_request(
        session,
        tenant_id=principal.tenant_id,
        profile_id=profile_id,
        identifier_ids=body.identifier_ids,
        actor=f"user:{principal.user_id}",
    )
