"""Routes of /v1/mentions: ingest, bulk import, list, read, the analysis backlog and agent corrections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.listening.deps import ListeningStateDep
from services.listening.errors import UnsupportedMediaType
from services.listening.mentions.importing import MENTION_COLUMNS, Format, import_mentions
from services.listening.mentions.labels import add_label, list_labels, mention_stats
from services.listening.mentions.logic import get_mention, list_mentions
from services.listening.mentions.schemas import (
    ImportSummary,
    LabelCreate,
    LabelPage,
    LabelRead,
    MentionAccepted,
    MentionBatch,
    MentionBatchAccepted,
    MentionCreate,
    MentionPage,
    MentionRead,
    MentionStats,
)
from shared.auth import INGEST, STAFF, Principal, require_roles
from shared.events.contracts import Intent, SentimentLabel
from shared.openapi import problems
from shared.pagination import CursorQuery, LimitQuery
from shared.service import ReaderDep, SessionDep
from shared.validation import Instant

# One router for the whole prefix: Starlette tries routes in the order they are declared below, so every
# fixed path (/batch, /import, /stats, /labels) comes before /{mention_id}, which would otherwise take it.
router = APIRouter(prefix="/v1/mentions", tags=["mentions"])

Ingester = Annotated[Principal, Depends(require_roles(*INGEST))]
Labellers = Annotated[Principal, Depends(require_roles("owner", "admin", "agent"))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]

IMPORT_TYPES: dict[str, Format] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/jsonlines": "jsonl",
    "text/csv": "csv",
}


@router.post(
    "",
    status_code=202,
    response_model=MentionAccepted,
    operation_id="create_mention",
    summary="Ingest a mention",
    responses=problems(429),
)
async def post_mention(
    mention_in: MentionCreate, principal: Ingester, state: ListeningStateDep
) -> MentionAccepted:
    """Ingest one post: de-duplicated by (platform, external_id); analysed and announced asynchronously."""
    return await state.batcher.submit(tenant_id=principal.tenant_id, mention_in=mention_in)


@router.post(
    "/batch",
    status_code=202,
    response_model=MentionBatchAccepted,
    operation_id="create_mention_batch",
    summary="Ingest a batch of mentions",
    responses=problems(429),
)
async def post_mentions(
    batch_in: MentionBatch, principal: Ingester, state: ListeningStateDep
) -> MentionBatchAccepted:
    """Ingest up to 500 posts in one request: an answer per post, in order (see `POST /v1/mentions`)."""
    results = await state.batcher.submit_many(tenant_id=principal.tenant_id, mentions_in=batch_in.mentions)
    accepted = sum(1 for r in results if r.status == "accepted")
    duplicates = sum(1 for r in results if r.status == "duplicate")
    return MentionBatchAccepted(results=results, accepted=accepted, duplicates=duplicates)


@router.post(
    "/import",
    response_model=ImportSummary,
    operation_id="create_mention_import",
    summary="Import mentions from a file",
    responses=problems(415, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": "MentionCreate per line"}
                },
                "text/csv": {
                    "schema": {"type": "string", "description": "columns: " + ", ".join(MENTION_COLUMNS)}
                },
            },
        }
    },
)
async def import_file(
    request: Request, principal: Ingester, session: SessionDep, state: ListeningStateDep
) -> ImportSummary:
    """Bulk import JSON Lines or CSV, streamed; bad lines are reported with their line numbers."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = IMPORT_TYPES.get(media)
    if fmt is None:
        raise UnsupportedMediaType("Send application/x-ndjson (JSON Lines) or text/csv.")
    return await import_mentions(
        session,
        tenant_id=principal.tenant_id,
        chunks=request.stream(),
        fmt=fmt,
        wakeups=state.wakeups,
        quota=state.quota,
    )


@router.get("", response_model=MentionPage, operation_id="list_mentions", summary="List mentions")
async def get_mentions(
    principal: Staff,
    reader: ReaderDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    language: Annotated[
        str | None,
        Query(
            max_length=16,
            description="A language as queries take it: `bs`, `hr`, `sr` are `hbs`; `pt` is also `pt-br`.",
        ),
    ] = None,
    sentiment: SentimentLabel | None = None,
    intent: Intent | None = None,
    query_id: Annotated[
        str | None,
        Query(
            max_length=36,
            description="Posts matching this query; a deleted or unknown query matches none (an empty page).",
        ),
    ] = None,
    group_id: Annotated[str | None, Query(max_length=36)] = None,
    since: Annotated[Instant | None, Query(description="Posts created at or after.")] = None,
    until: Annotated[Instant | None, Query(description="Posts created before.")] = None,
) -> MentionPage:
    """List the tenant's mentions, newest first, filtered by query, group, time, platform, language…"""
    return await list_mentions(
        reader,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        platform=platform,
        language=language,
        sentiment=sentiment,
        intent=intent,
        query_id=query_id,
        group_id=group_id,
        since=since,
        until=until,
    )


@router.get(
    "/stats",
    response_model=MentionStats,
    operation_id="get_mention_stats",
    summary="Get the analysis backlog",
)
async def get_stats(principal: Staff, reader: ReaderDep) -> MentionStats:
    """The tenant's analysis backlog: mentions pending analysis and awaiting a quality re-score."""
    return await mention_stats(reader, tenant_id=principal.tenant_id)


@router.get("/labels", response_model=LabelPage, operation_id="list_labels", summary="List label corrections")
async def get_labels(
    principal: Staff, reader: ReaderDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> LabelPage:
    """Export the tenant's agent corrections (labelled data), newest first."""
    return await list_labels(reader, tenant_id=principal.tenant_id, limit=limit, cursor=cursor)


@router.get(
    "/{mention_id}",
    response_model=MentionRead,
    operation_id="get_mention",
    summary="Get a mention",
    responses=problems(404),
)
async def read_mention(mention_id: str, principal: Staff, reader: ReaderDep) -> MentionRead:
    """One mention with its analysis."""
    return await get_mention(reader, tenant_id=principal.tenant_id, mention_id=mention_id)


@router.post(
    "/{mention_id}/labels",
    status_code=201,
    response_model=LabelRead,
    operation_id="create_label",
    summary="Correct a mention's analysis",
    responses=problems(404, 409),
)
async def post_label(
    mention_id: str, label_in: LabelCreate, principal: Labellers, session: SessionDep
) -> LabelRead:
    """Correct a mention's sentiment, intent or language; the correction becomes its analysis."""
    return await add_label(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        mention_id=mention_id,
        label_in=label_in,
    )
