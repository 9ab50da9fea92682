"""Ingest (de-duplicate, analyse, store, announce) and read mentions."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.errors import MentionNotFound
from services.listening.logic.analysis import analyse
from services.listening.models import Mention
from services.listening.schemas import (
    AnalysisRead,
    AuthorRead,
    MentionAccepted,
    MentionCreate,
    MentionPage,
    MentionRead,
    SentimentRead,
)
from shared.events.contracts import Analysis, Author, MentionReceived, Sentiment
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import paginate
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.listening")

SOURCE = "listening"


async def _find_existing(
    session: AsyncSession, *, tenant_id: str, platform: str, external_id: str
) -> str | None:
    stmt = scoped(Mention, tenant_id).where(Mention.platform == platform, Mention.external_id == external_id)
    row = (await session.execute(stmt)).scalars().first()
    return row.id if row is not None else None


def _payload(mention: Mention) -> MentionReceived:
    return MentionReceived(
        mention_id=mention.id,
        platform=mention.platform,
        external_id=mention.external_id,
        text=mention.text,
        created_at=mention.created_at,
        url=mention.url,
        author=Author(
            handle=mention.author_handle,
            display_name=mention.author_display_name,
            followers=mention.author_followers,
        ),
        in_reply_to=mention.in_reply_to,
        analysis=Analysis(
            language=mention.language,
            sentiment=Sentiment(
                label=mention.sentiment_label,
                score=mention.sentiment_score,
            ),
            intent=mention.intent,
            tier=mention.analysis_tier,
        ),
    )


async def ingest_mention(
    session: AsyncSession, *, tenant_id: str, mention_in: MentionCreate
) -> MentionAccepted:
    """Store a new post with its analysis and stage `listening.mention.received`; a repeat is a duplicate."""
    existing = await _find_existing(
        session, tenant_id=tenant_id, platform=mention_in.platform, external_id=mention_in.external_id
    )
    if existing is not None:
        log.info("mention.duplicate", extra={"mention_id": existing, "tenant_id": tenant_id})
        return MentionAccepted(id=existing, status="duplicate")
    analysis = analyse(mention_in.text)
    mention = Mention(
        tenant_id=tenant_id,
        platform=mention_in.platform,
        external_id=mention_in.external_id,
        text=mention_in.text,
        created_at=mention_in.created_at,
        url=mention_in.url,
        author_handle=mention_in.author.handle,
        author_display_name=mention_in.author.display_name,
        author_followers=mention_in.author.followers,
        in_reply_to=mention_in.in_reply_to,
        language=analysis.language,
        sentiment_label=analysis.sentiment.label,
        sentiment_score=analysis.sentiment.score,
        intent=analysis.intent,
        analysis_tier=analysis.tier,
    )
    session.add(mention)
    stage(
        session,
        new_event(
            type="listening.mention.received",
            source=SOURCE,
            tenant_id=tenant_id,
            data=_payload(mention),
            subject=mention.id,
        ),
    )
    try:
        await session.commit()
    except IntegrityError:
        # A concurrent request stored the same post first: answer as its duplicate.
        await session.rollback()
        existing = await _find_existing(
            session, tenant_id=tenant_id, platform=mention_in.platform, external_id=mention_in.external_id
        )
        if existing is None:
            raise
        log.info("mention.duplicate", extra={"mention_id": existing, "tenant_id": tenant_id})
        return MentionAccepted(id=existing, status="duplicate")
    log.info(
        "mention.stored",
        extra={
            "mention_id": mention.id,
            "tenant_id": tenant_id,
            "language": mention.language,
            "intent": mention.intent,
        },
    )
    return MentionAccepted(id=mention.id, status="accepted")


def to_read(mention: Mention) -> MentionRead:
    """The API view of a stored mention."""
    return MentionRead(
        id=mention.id,
        platform=mention.platform,
        external_id=mention.external_id,
        text=mention.text,
        created_at=mention.created_at,
        received_at=mention.received_at,
        url=mention.url,
        author=AuthorRead(
            handle=mention.author_handle,
            display_name=mention.author_display_name,
            followers=mention.author_followers,
        ),
        in_reply_to=mention.in_reply_to,
        analysis=AnalysisRead(
            language=mention.language,
            sentiment=SentimentRead(
                label=mention.sentiment_label,
                score=mention.sentiment_score,
            ),
            intent=mention.intent,
            tier=mention.analysis_tier,
        ),
    )


async def get_mention(session: AsyncSession, *, tenant_id: str, mention_id: str) -> MentionRead:
    """One mention of the tenant, or `MentionNotFound`."""
    mention = await get_scoped(session, Mention, tenant_id=tenant_id, id=mention_id, error=MentionNotFound)
    return to_read(mention)


async def list_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    platform: str | None = None,
    language: str | None = None,
    sentiment: str | None = None,
    intent: str | None = None,
) -> MentionPage:
    """The tenant's mentions, newest post first, optionally filtered."""
    stmt = scoped(Mention, tenant_id)
    if platform is not None:
        stmt = stmt.where(Mention.platform == platform)
    if language is not None:
        stmt = stmt.where(Mention.language == language)
    if sentiment is not None:
        stmt = stmt.where(Mention.sentiment_label == sentiment)
    if intent is not None:
        stmt = stmt.where(Mention.intent == intent)
    rows, next_cursor = await paginate(session, stmt, Mention, limit=limit, cursor=cursor)
    return MentionPage(items=[to_read(m) for m in rows], next_cursor=next_cursor)
