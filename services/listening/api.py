"""listening's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.listening.logic.mentions import get_mention, ingest_mention, list_mentions
from services.listening.schemas import MentionAccepted, MentionCreate, MentionPage, MentionRead
from shared.auth import INGEST, STAFF, Principal, require_roles
from shared.events.contracts import Intent, SentimentLabel
from shared.pagination import CursorQuery, LimitQuery
from shared.service import SessionDep

router = APIRouter(prefix="/v1/mentions", tags=["mentions"])

Ingester = Annotated[Principal, Depends(require_roles(*INGEST))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]


@router.post("", status_code=202, response_model=MentionAccepted)
async def post_mention(
    mention_in: MentionCreate, principal: Ingester, session: SessionDep
) -> MentionAccepted:
    """Ingest one post: de-duplicated by (platform, external_id), analysed, and announced."""
    return await ingest_mention(session, tenant_id=principal.tenant_id, mention_in=mention_in)


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
) -> MentionPage:
    """List the tenant's mentions, newest first, filtered by platform, language, sentiment or intent."""
    return await list_mentions(
        session,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        platform=platform,
        language=language,
        sentiment=sentiment,
        intent=intent,
    )


@router.get("/{mention_id}", response_model=MentionRead)
async def read_mention(mention_id: str, principal: Staff, session: SessionDep) -> MentionRead:
    """One mention with its analysis."""
    return await get_mention(session, tenant_id=principal.tenant_id, mention_id=mention_id)
