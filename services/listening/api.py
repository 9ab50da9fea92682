"""listening's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.listening.deps import ListeningStateDep
from services.listening.logic.mentions import get_mention, list_mentions
from services.listening.schemas import (
    MentionAccepted,
    MentionBatch,
    MentionBatchAccepted,
    MentionCreate,
    MentionPage,
    MentionRead,
)
from shared.auth import INGEST, STAFF, Principal, require_roles
from shared.events.contracts import Intent, SentimentLabel
from shared.pagination import CursorQuery, LimitQuery
from shared.service import SessionDep
from shared.validation import Instant

router = APIRouter(prefix="/v1/mentions", tags=["mentions"])

Ingester = Annotated[Principal, Depends(require_roles(*INGEST))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]


@router.post("", status_code=202, response_model=MentionAccepted)
async def post_mention(
    mention_in: MentionCreate, principal: Ingester, state: ListeningStateDep
) -> MentionAccepted:
    """Ingest one post: de-duplicated by (platform, external_id); analysed and announced asynchronously."""
    return await state.batcher.submit(tenant_id=principal.tenant_id, mention_in=mention_in)


@router.post("/batch", status_code=202, response_model=MentionBatchAccepted)
async def post_mentions(
    batch_in: MentionBatch, principal: Ingester, state: ListeningStateDep
) -> MentionBatchAccepted:
    """Ingest up to 500 posts in one request: an answer per post, in order (see `POST /v1/mentions`)."""
    results = await state.batcher.submit_many(tenant_id=principal.tenant_id, mentions_in=batch_in.mentions)
    accepted = sum(1 for r in results if r.status == "accepted")
    return MentionBatchAccepted(results=results, accepted=accepted, duplicates=len(results) - accepted)


@router.get("", response_model=MentionPage)
async def get_mentions(
    principal: Staff,
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    sentiment: SentimentLabel | None = None,
    intent: Intent | None = None,
    query_id: Annotated[str | None, Query(max_length=36)] = None,
    group_id: Annotated[str | None, Query(max_length=36)] = None,
    since: Annotated[Instant | None, Query(description="Posts created at or after.")] = None,
    until: Annotated[Instant | None, Query(description="Posts created before.")] = None,
) -> MentionPage:
    """List the tenant's mentions, newest first, filtered by query, group, time, platform, language…"""
    return await list_mentions(
        session,
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


@router.get("/{mention_id}", response_model=MentionRead)
async def read_mention(mention_id: str, principal: Staff, session: SessionDep) -> MentionRead:
    """One mention with its analysis."""
    return await get_mention(session, tenant_id=principal.tenant_id, mention_id=mention_id)
