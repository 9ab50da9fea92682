"""Routes of `/v1/own-accounts`: the brand's own accounts, whose posts are never mentions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.listening.brand import logic
from services.listening.brand.schemas import (
    OwnAccountCreate,
    OwnAccountPage,
    OwnAccountRead,
    OwnAccountUpdate,
)
from shared.auth import ADMINS, Principal, require_roles
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

router = APIRouter(prefix="/v1/own-accounts", tags=["own accounts"])
Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]
AccountId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=OwnAccountPage, operation_id="list_own_accounts", summary="List own accounts")
async def list_own_accounts(
    principal: Admin, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> OwnAccountPage:
    """The brand's accounts listed by the tenant, newest first (its channels' accounts count without
    being listed)."""
    return await logic.list_own_accounts(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.post(
    "",
    status_code=201,
    response_model=OwnAccountRead,
    operation_id="create_own_account",
    summary="Add an own account",
    responses=problems(409, 422),
)
async def create_own_account(
    account_in: OwnAccountCreate, principal: Admin, session: SessionDep
) -> OwnAccountRead:
    """List one of the brand's accounts: its posts (webhooks, pulls, the ingest API) become the brand's
    outbound messages, never mentions or customers."""
    return await logic.create_own_account(session, tenant_id=principal.tenant_id, account_in=account_in)


@router.patch(
    "/{account_id}",
    response_model=OwnAccountRead,
    operation_id="update_own_account",
    summary="Update an own account",
    responses=problems(404, 409, 422),
)
async def update_own_account(
    update_in: OwnAccountUpdate, principal: Admin, session: SessionDep, account_id: AccountId
) -> OwnAccountRead:
    return await logic.update_own_account(
        session, tenant_id=principal.tenant_id, account_id=account_id, update_in=update_in
    )


@router.delete(
    "/{account_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_own_account",
    summary="Remove an own account",
    responses=problems(404),
)
async def delete_own_account(principal: Admin, session: SessionDep, account_id: AccountId) -> Response:
    await logic.delete_own_account(session, tenant_id=principal.tenant_id, account_id=account_id)
    return Response(status_code=204)
