"""The consent ledger's routes: a person's consents, objections (Art. 21) and restriction (Art. 18).

Each write is recorded with who made it and projected into Redis before it answers, so the gateway and
the services apply it from the very next request (`services/profiles/logic/consent.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from redis.asyncio import Redis

from services.profiles.consent_schemas import ConsentView, ConsentWrite, FlagWrite
from services.profiles.logic import consent
from shared.auth import STAFF, Principal, require_roles
from shared.events.contracts import Purpose
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.reads import SessionReader
from shared.service import ReaderDep, SessionDep

router = APIRouter(prefix="/v1/profiles", tags=["consent"])

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
# Who may record consent: the tenant's people who handle customers.
Agents = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]


async def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.runtime.redis
    return redis


RedisDep = Annotated[Redis, Depends(get_redis)]


@router.get(
    "/{profile_id}/consents",
    response_model=ConsentView,
    operation_id="get_profile_consents",
    summary="Get a profile's consents",
    responses=problems(404),
)
async def read_consents(
    profile_id: str, principal: Staff, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> ConsentView:
    """The person's current state per purpose (their status, the basis the tenant's policy gives the
    purpose, and the decision it makes), their objections and restriction, and their history (every
    grant, withdrawal, objection and restriction with who and when), newest first."""
    return await consent.consent_view(
        reader, tenant_id=principal.tenant_id, profile_id=profile_id, limit=limit, cursor=cursor
    )


async def _record(
    session: SessionDep, redis: Redis, principal: Principal, profile_id: str, entry: consent.Entry
) -> ConsentView:
    """Write one ledger entry (projected before it answers) and answer the person's consents."""
    await consent.write(session, redis, tenant_id=principal.tenant_id, profile_id=profile_id, entry=entry)
    return await consent.consent_view(
        SessionReader(session), tenant_id=principal.tenant_id, profile_id=profile_id
    )


@router.put(
    "/{profile_id}/consents/{purpose}",
    response_model=ConsentView,
    operation_id="update_profile_consent",
    summary="Record a consent or its withdrawal",
    responses=problems(404, 409),
)
async def put_consent(
    profile_id: str,
    purpose: Purpose,
    body: ConsentWrite,
    principal: Agents,
    session: SessionDep,
    redis: RedisDep,
) -> ConsentView:
    """Record that the person granted or withdrew consent for `purpose`, with its source and evidence;
    in force for every later request once this answers (503: recorded, in force shortly)."""
    return await _record(
        session,
        redis,
        principal,
        profile_id,
        consent.Entry(
            kind="consent",
            purpose=purpose,
            status=body.status,
            basis=body.basis,
            source=body.source,
            evidence=body.evidence,
            by_user_id=principal.user_id,
        ),
    )


@router.put(
    "/{profile_id}/objections/{purpose}",
    response_model=ConsentView,
    operation_id="update_profile_objection",
    summary="Record or lift an objection",
    responses=problems(404, 409),
)
async def put_objection(
    profile_id: str,
    purpose: Purpose,
    body: FlagWrite,
    principal: Agents,
    session: SessionDep,
    redis: RedisDep,
) -> ConsentView:
    """The person objects to processing for `purpose` (Art. 21), or the objection is lifted. An
    objection stops processing on legitimate interest; a purpose resting on consent needs the consent."""
    return await _record(
        session,
        redis,
        principal,
        profile_id,
        consent.Entry(
            kind="objection",
            purpose=purpose,
            status="active" if body.active else "lifted",
            source="agent",
            reason=body.reason,
            by_user_id=principal.user_id,
        ),
    )


@router.put(
    "/{profile_id}/restriction",
    response_model=ConsentView,
    operation_id="update_profile_restriction",
    summary="Restrict or release processing",
    responses=problems(404, 409),
)
async def put_restriction(
    profile_id: str, body: FlagWrite, principal: Agents, session: SessionDep, redis: RedisDep
) -> ConsentView:
    """Restrict processing of the person's data (Art. 18: stored, processed for no purpose), or lift it."""
    return await _record(
        session,
        redis,
        principal,
        profile_id,
        consent.Entry(
            kind="restriction",
            purpose="",
            status="active" if body.active else "lifted",
            source="agent",
            reason=body.reason,
            by_user_id=principal.user_id,
        ),
    )
