"""profiles' identity-graph routes: identifiers, merges and unmerges, match suggestions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from services.profiles.logic.identifiers import attach_identifier, list_identifiers
from services.profiles.logic.merges import merge_by_request, unmerge_by_request
from services.profiles.logic.suggestions import accept_suggestion, list_suggestions, reject_suggestion
from services.profiles.schemas import (
    IdentifierCreate,
    IdentifierList,
    IdentifierRead,
    MatchSuggestionList,
    MatchSuggestionRead,
    MergeRequest,
    MergeResult,
    OutreachQuery,
    UnmergeRequest,
    UnmergeResult,
)
from shared.auth import STAFF, Principal, require_roles
from shared.openapi import problems
from shared.service import ReaderDep, SessionDep

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
async def get_identifiers(
    profile_id: str, principal: Staff, reader: ReaderDep, purpose: OutreachQuery = None
) -> IdentifierList:
    """Every identifier on the profile, with the evidence, confidence and source of its link
    (`purpose=marketing`: read for outreach)."""
    return await list_identifiers(reader, tenant_id=principal.tenant_id, profile_id=profile_id)


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
    operation_id="create_profile_merge",
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
    operation_id="create_profile_unmerge",
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


@router.get(
    "/{profile_id}/match-suggestions",
    response_model=MatchSuggestionList,
    operation_id="list_match_suggestions",
    summary="List a profile's match suggestions",
    responses=problems(404),
)
async def get_match_suggestions(
    profile_id: str,
    principal: Staff,
    reader: ReaderDep,
    status: Annotated[Literal["open", "accepted", "rejected"] | None, Query()] = None,
) -> MatchSuggestionList:
    """Profiles that may be the same person (names, handles across platforms, bios, links), best first,
    each with its score and evidence. Nothing is merged until an agent accepts."""
    return await list_suggestions(reader, tenant_id=principal.tenant_id, profile_id=profile_id, status=status)


@router.post(
    "/{profile_id}/match-suggestions/{suggestion_id}/accept",
    response_model=MergeResult,
    operation_id="create_match_suggestion_acceptance",
    summary="Accept a match suggestion",
    responses=problems(404, 409),
)
async def post_accept(
    profile_id: str, suggestion_id: str, principal: Agents, session: SessionDep
) -> MergeResult:
    """The suggested profile is merged into this one (reason `suggestion`; reversible by `unmerge`)."""
    return await accept_suggestion(
        session,
        tenant_id=principal.tenant_id,
        profile_id=profile_id,
        suggestion_id=suggestion_id,
        actor=f"user:{principal.user_id}",
    )


@router.post(
    "/{profile_id}/match-suggestions/{suggestion_id}/reject",
    response_model=MatchSuggestionRead,
    operation_id="create_match_suggestion_rejection",
    summary="Reject a match suggestion",
    responses=problems(404, 409),
)
async def post_reject(
    profile_id: str, suggestion_id: str, principal: Agents, session: SessionDep
) -> MatchSuggestionRead:
    """Not the same person: the pair is not suggested again."""
    return await reject_suggestion(
        session,
        tenant_id=principal.tenant_id,
        profile_id=profile_id,
        suggestion_id=suggestion_id,
        actor=f"user:{principal.user_id}",
    )
