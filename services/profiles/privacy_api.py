"""profiles' privacy routes: the tenant's privacy policy, the audit log, the record of processing."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.profiles.consent_api import RedisDep
from services.profiles.consent_schemas import AuditPage, PolicyRead, PolicyWrite, ProcessingRecords
from services.profiles.logic.audit import list_audit
from services.profiles.logic.privacy_policy import read_policy, write_policy
from services.profiles.logic.processing import processing_records
from shared.auth import ADMINS, STAFF, Principal, require_roles
from shared.events.contracts import Purpose
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Admins = Annotated[Principal, Depends(require_roles(*ADMINS))]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get(
    "/policy", response_model=PolicyRead, operation_id="get_privacy_policy", summary="Get the privacy policy"
)
async def get_policy(principal: Staff, reader: ReaderDep) -> PolicyRead:
    """The lawful basis each purpose rests on (the defaults until an admin sets them: engagement, profiling
    and analytics on legitimate interest, marketing on consent) and the retention period."""
    return PolicyRead.model_validate(await read_policy(reader, principal.tenant_id))


@router.put(
    "/policy",
    response_model=PolicyRead,
    operation_id="update_privacy_policy",
    summary="Set the privacy policy",
)
async def put_policy(
    body: PolicyWrite, principal: Admins, session: SessionDep, redis: RedisDep
) -> PolicyRead:
    """Replace the policy (purposes left out take the default): in force for every later request once
    this answers; published as `privacy.policy.changed` (retention jobs follow it)."""
    return PolicyRead.model_validate(
        await write_policy(
            session,
            redis,
            tenant_id=principal.tenant_id,
            bases={str(k): str(v) for k, v in body.bases.items()},
            retention_days=body.retention_days,
            by_user_id=principal.user_id,
        )
    )


@router.get(
    "/audit", response_model=AuditPage, operation_id="list_privacy_audit", summary="List the audit log"
)
async def get_audit(
    principal: Admins,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    profile_id: IdQuery = None,
    actor_id: IdQuery = None,
    purpose: Purpose | None = None,
    decision: Literal["allowed", "refused"] | None = None,
) -> AuditPage:
    """Every recorded access to personal data (who, which person, which purpose, allowed or refused, why),
    newest first; narrowed by person, actor, purpose and decision. Append-only: nothing changes it."""
    return await list_audit(
        reader,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        profile_id=profile_id,
        actor_id=actor_id,
        purpose=purpose,
        decision=decision,
    )


@router.get(
    "/processing-records",
    response_model=ProcessingRecords,
    operation_id="get_processing_records",
    summary="Get the record of processing activities",
)
async def get_processing_records(principal: Admins, reader: ReaderDep) -> ProcessingRecords:
    """The record of processing activities (Art. 30): purposes with the tenant's lawful basis, the data
    categories each service keeps, recipients, retention."""
    return await processing_records(reader, tenant_id=principal.tenant_id)
