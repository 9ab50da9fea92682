"""listening's routes for listening queries and their spike alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.listening.deps import ListeningStateDep
from services.listening.queries.alerts import acknowledge_alert, list_alerts, query_volume, share_of_voice
from services.listening.queries.logic import (
    check_expression,
    create_query,
    delete_query,
    get_query,
    list_queries,
    query_usage,
    update_query,
)
from services.listening.queries.schemas import (
    AlertPage,
    AlertRead,
    ExpressionCheck,
    ExpressionChecked,
    ListeningQueryCreate,
    ListeningQueryPage,
    ListeningQueryRead,
    ListeningQueryUpdate,
    QueryKind,
    QueryUsage,
    QueryVolume,
    ShareOfVoice,
)
from shared.auth import STAFF, Principal, require_roles
from shared.db import utcnow
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep
from shared.validation import Instant, ensure_ordered

router = APIRouter(prefix="/v1/listening", tags=["listening queries"])

QUERY_EDITORS = ("owner", "admin", "analyst")
Editor = Annotated[Principal, Depends(require_roles(*QUERY_EDITORS))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Id = Annotated[str, Query(max_length=36)]


@router.post(
    "/queries",
    status_code=201,
    response_model=ListeningQueryRead,
    operation_id="create_listening_query",
    summary="Create a listening query",
    responses=problems(409),
)
async def post_query(
    query_in: ListeningQueryCreate, principal: Editor, session: SessionDep, state: ListeningStateDep
) -> ListeningQueryRead:
    """Create a listening query; a malformed or too costly expression is a 422 with the error's position,
    one query over the tenant's cap a 409."""
    return await create_query(
        session,
        tenant_id=principal.tenant_id,
        query_in=query_in,
        limits=state.settings.query_limits(),
        max_queries=state.settings.max_queries_per_tenant,
        wakeups=state.wakeups,
    )


@router.post(
    "/queries/validate",
    response_model=ExpressionChecked,
    operation_id="create_listening_query_check",
    summary="Check a query expression",
)
async def post_query_check(
    check_in: ExpressionCheck, principal: Editor, state: ListeningStateDep
) -> ExpressionChecked:
    """Check an expression as creating a query would, storing nothing: its normal form, or the same 422
    with the error's position (a query editor's check as the user types)."""
    return check_expression(check_in.expression, state.settings.query_limits())


@router.get(
    "/queries/usage",
    response_model=QueryUsage,
    operation_id="get_listening_query_usage",
    summary="Get the query quota and cost limits",
)
async def read_query_usage(principal: Staff, reader: ReaderDep, state: ListeningStateDep) -> QueryUsage:
    """The tenant's query count against its cap, the cost limits, and posts whose matching ran out of time."""
    return await query_usage(
        reader,
        tenant_id=principal.tenant_id,
        max_queries=state.settings.max_queries_per_tenant,
        limits=state.settings.query_limits(),
        match_budget_s=state.matcher.budget_s,
    )


@router.get(
    "/queries",
    response_model=ListeningQueryPage,
    operation_id="list_listening_queries",
    summary="List listening queries",
)
async def get_queries(
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    kind: QueryKind | None = None,
) -> ListeningQueryPage:
    """List the tenant's listening queries, newest first."""
    return await list_queries(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor, kind=kind)


@router.get(
    "/queries/{query_id}",
    response_model=ListeningQueryRead,
    operation_id="get_listening_query",
    summary="Get a listening query",
    responses=problems(404),
)
async def read_query(query_id: str, principal: Staff, reader: ReaderDep) -> ListeningQueryRead:
    """One listening query."""
    return await get_query(reader, tenant_id=principal.tenant_id, query_id=query_id)


@router.patch(
    "/queries/{query_id}",
    response_model=ListeningQueryRead,
    operation_id="update_listening_query",
    summary="Update a listening query",
    responses=problems(404),
)
async def patch_query(
    query_id: str,
    changes: ListeningQueryUpdate,
    principal: Editor,
    session: SessionDep,
    state: ListeningStateDep,
) -> ListeningQueryRead:
    """Change a listening query (a new expression is validated like on creation)."""
    return await update_query(
        session,
        tenant_id=principal.tenant_id,
        query_id=query_id,
        changes=changes,
        limits=state.settings.query_limits(),
        wakeups=state.wakeups,
    )


@router.delete(
    "/queries/{query_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_listening_query",
    summary="Delete a listening query",
    responses=problems(404),
)
async def remove_query(query_id: str, principal: Editor, session: SessionDep) -> Response:
    """Delete a listening query; mentions stop matching it."""
    await delete_query(session, tenant_id=principal.tenant_id, query_id=query_id)
    return Response(status_code=204)


@router.get(
    "/queries/{query_id}/volume",
    response_model=QueryVolume,
    operation_id="get_listening_query_volume",
    summary="Get a query's hourly volume",
    responses=problems(404),
)
async def read_query_volume(
    query_id: str,
    principal: Staff,
    reader: ReaderDep,
    since: Annotated[Instant | None, Query(description="From this hour on (default: 7 days ago).")] = None,
    until: Annotated[Instant | None, Query(description="Hours starting before this.")] = None,
) -> QueryVolume:
    """The query's hourly matched mentions and negative ones, oldest first (up to 2,232 hours a read)."""
    return await query_volume(
        reader,
        tenant_id=principal.tenant_id,
        query_id=query_id,
        since=since or utcnow() - timedelta(days=7),
        until=until,
    )


@router.get(
    "/share-of-voice",
    response_model=ShareOfVoice,
    operation_id="get_share_of_voice",
    summary="Get share of voice",
)
async def read_share_of_voice(
    principal: Staff,
    reader: ReaderDep,
    kind: Annotated[
        list[QueryKind] | None, Query(description="Query kinds compared (default: brand and competitor).")
    ] = None,
    since: Annotated[Instant | None, Query(description="From this hour on (default: 30 days ago).")] = None,
    until: Annotated[Instant | None, Query(description="Hours starting before this (default: now).")] = None,
) -> ShareOfVoice:
    """Share of voice: each active brand/competitor (or topic) query's matched mentions in the period,
    its share of them all and its negative share, most mentioned first."""
    until = until or utcnow()
    since = since or until - timedelta(days=30)
    ensure_ordered(since, until, names=("since", "until"))
    return await share_of_voice(
        reader,
        tenant_id=principal.tenant_id,
        kinds=sorted(set(kind or ["brand", "competitor"])),
        since=since,
        until=until,
    )


@router.get("/alerts", response_model=AlertPage, operation_id="list_alerts", summary="List spike alerts")
async def get_alerts(
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    query_id: Id | None = None,
) -> AlertPage:
    """The tenant's spike alerts, newest first, optionally for one query."""
    return await list_alerts(
        reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor, query_id=query_id
    )


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertRead,
    operation_id="create_alert_acknowledgement",
    summary="Acknowledge a spike alert",
    responses=problems(404),
)
async def post_alert_acknowledgement(alert_id: str, principal: Staff, session: SessionDep) -> AlertRead:
    """Mark an alert as seen (by the caller, now); acknowledging it again changes nothing."""
    return await acknowledge_alert(
        session, tenant_id=principal.tenant_id, alert_id=alert_id, user_id=principal.user_id
    )
