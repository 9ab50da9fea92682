"""Routes of a tenant's consent keywords: staff read them, owners and admins set them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.engagement.tenant_privacy import capture
from services.engagement.tenant_privacy.schemas import ConsentKeywordsRead, ConsentKeywordsUpdate
from shared.auth import ADMINS, STAFF, Principal, require_roles
from shared.openapi import problems
from shared.service import SessionDep

router = APIRouter(prefix="/v1/consent-keywords", tags=["privacy"])

StaffDep = Annotated[Principal, Depends(require_roles(*STAFF))]
AdminDep = Annotated[Principal, Depends(require_roles(*ADMINS))]


@router.get(
    "",
    response_model=ConsentKeywordsRead,
    operation_id="get_consent_keywords",
    summary="Get the consent keywords",
)
async def get_keywords(principal: StaffDep, session: SessionDep) -> ConsentKeywordsRead:
    """The keywords a customer's private message opts in or out with (the defaults until set)."""
    return await capture.get_keywords(session, tenant_id=principal.tenant_id)


@router.put(
    "",
    response_model=ConsentKeywordsRead,
    operation_id="update_consent_keywords",
    summary="Set the consent keywords",
    responses=problems(422),
)
async def put_keywords(
    update: ConsentKeywordsUpdate, principal: AdminDep, session: SessionDep
) -> ConsentKeywordsRead:
    """Replace the keyword list: each keyword grants or withdraws one purpose (an empty list: none)."""
    return await capture.put_keywords(
        session, tenant_id=principal.tenant_id, update=update, by_user_id=principal.user_id
    )
