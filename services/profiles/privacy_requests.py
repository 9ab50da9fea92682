"""Privacy requests: a person's export (Art. 15/20) and erasure (Art. 17), for the tenant's admins.

Routes stay thin (logic in `services/profiles/logic/privacy_requests.py`); the subscriptions that record
the services' answers and the worker that scrubs and certifies finished erasures are here too, for the
app to wire.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from services.profiles.logic import privacy_requests as logic
from services.profiles.privacy import erase_person, export_person
from services.profiles.privacy_schemas import (
    PrivacyRequestCreate,
    PrivacyRequestPage,
    PrivacyRequestRead,
    RequestStatus,
)
from services.profiles.settings import ProfilesSettings
from shared.auth import ADMINS, Principal, require_roles
from shared.events.contracts import ErasureCompleted, ExportPart
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.privacy import privacy_subscriptions
from shared.service import Runtime, SessionDep, Subscription
from shared.wakeups import work_until_cancelled

log = logging.getLogger("rapport.profiles.privacy")

router = APIRouter(prefix="/v1/privacy", tags=["privacy requests"])

Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]
StatusQuery = Annotated[RequestStatus | None, Query(description="Only requests of this status.")]
# How often the scrub worker looks for answered erasures written by another replica (its own wake it
# at once).
SCRUB_POLL_S = 5.0


def _created(response: Response, created: bool) -> None:
    # 202: asked of every service now; 200: the person's erasure that is still open.
    response.status_code = 202 if created else 200


@router.post(
    "/exports",
    response_model=PrivacyRequestRead,
    status_code=202,
    operation_id="create_privacy_export",
    summary="Ask every service for what it holds about a person",
    responses=problems(404, 422),
)
async def create_export(
    body: PrivacyRequestCreate, principal: Admin, session: SessionDep, response: Response
) -> PrivacyRequestRead:
    """A person's access request (GDPR Art. 15/20), by profile id or by an identifier they gave; due in
    one month. When every service has answered, `GET .../{id}/download` is the bundle."""
    request, created = await logic.open_request(
        session, tenant_id=principal.tenant_id, kind="export", body=body, requested_by=principal.user_id
    )
    _created(response, created)
    return request


@router.post(
    "/erasures",
    response_model=PrivacyRequestRead,
    status_code=202,
    operation_id="create_privacy_erasure",
    summary="Erase a person everywhere",
    responses=problems(404, 422),
)
async def create_erasure(
    body: PrivacyRequestCreate, principal: Admin, session: SessionDep, response: Response
) -> PrivacyRequestRead:
    """A person's erasure request (GDPR Art. 17), by profile id or by an identifier they gave; due in one
    month. Every service deletes or anonymises what it holds; while one erasure of the person is open, a
    second request answers that one (200)."""
    request, created = await logic.open_request(
        session, tenant_id=principal.tenant_id, kind="erasure", body=body, requested_by=principal.user_id
    )
    _created(response, created)
    return request


@router.get(
    "/exports", response_model=PrivacyRequestPage, operation_id="list_privacy_exports", summary="List exports"
)
async def list_exports(
    principal: Admin,
    session: SessionDep,
    status: StatusQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> PrivacyRequestPage:
    """The tenant's export requests, newest first."""
    return await logic.list_requests(
        session, tenant_id=principal.tenant_id, kind="export", status=status, limit=limit, cursor=cursor
    )


@router.get(
    "/erasures",
    response_model=PrivacyRequestPage,
    operation_id="list_privacy_erasures",
    summary="List erasures",
)
async def list_erasures(
    principal: Admin,
    session: SessionDep,
    status: StatusQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> PrivacyRequestPage:
    """The tenant's erasure requests, newest first."""
    return await logic.list_requests(
        session, tenant_id=principal.tenant_id, kind="erasure", status=status, limit=limit, cursor=cursor
    )


@router.get(
    "/exports/{request_id}",
    response_model=PrivacyRequestRead,
    operation_id="get_privacy_export",
    summary="Get an export's status",
    responses=problems(404),
)
async def get_export(request_id: str, principal: Admin, session: SessionDep) -> PrivacyRequestRead:
    """The export's status and which services have answered."""
    return await logic.get_request(
        session, tenant_id=principal.tenant_id, kind="export", request_id=request_id
    )


@router.get(
    "/exports/{request_id}/download",
    operation_id="get_privacy_export_bundle",
    summary="Download an export's bundle",
    responses={**problems(404, 409, 410), 200: {"content": {"application/json": {}}}},
)
async def download_export(request_id: str, principal: Admin, session: SessionDep) -> Response:
    """Everything every service holds about the person, as one JSON document (by service, then kind)."""
    bundle: dict[str, Any] = await logic.export_bundle(
        session, tenant_id=principal.tenant_id, request_id=request_id
    )
    return Response(
        json.dumps(bundle, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="export-{request_id}.json"'},
    )


@router.get(
    "/erasures/{request_id}",
    response_model=PrivacyRequestRead,
    operation_id="get_privacy_erasure",
    summary="Get an erasure's status and certificate",
    responses=problems(404),
)
async def get_erasure(request_id: str, principal: Admin, session: SessionDep) -> PrivacyRequestRead:
    """Each service's answer (counts per kind of record); once all answered and the event streams were
    scrubbed, the certificate."""
    return await logic.get_request(
        session, tenant_id=principal.tenant_id, kind="erasure", request_id=request_id
    )


# profiles answers like every service, and records every service's answers.
SUBSCRIPTIONS: list[Subscription[Any]] = [
    *privacy_subscriptions("profiles", export_person=export_person, erase_person=erase_person),
    Subscription(durable="profiles-privacy-parts", event=ExportPart, handler=logic.on_export_part),
    Subscription(
        durable="profiles-privacy-completions", event=ErasureCompleted, handler=logic.on_erasure_completed
    ),
]


async def spawn_scrubber(rt: Runtime[ProfilesSettings]) -> None:
    """Start the worker that scrubs the streams of answered erasures and certifies them, and deletes the
    bundles of exports past their keeping period."""

    async def idle() -> float:
        return SCRUB_POLL_S

    keep = timedelta(days=rt.settings.export_keep_days)

    async def once() -> int:
        finished = await logic.finish_erasures(rt.sessions, rt.bus, rt.redis)
        return finished + await logic.expire_exports(rt.sessions, keep=keep)

    rt.spawn(
        work_until_cancelled(
            run_once=once,
            idle_for=idle,
            wake=logic.ERASURE_ANSWERED.of(rt.sessions),
            fallback_s=SCRUB_POLL_S,
            failed_event="privacy.scrub_failed",
            log=log,
        ),
        name="privacy-scrub",
    )
