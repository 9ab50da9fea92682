"""Ingest (de-duplicate, store as pending) and read mentions; `mentions.analysing` analyses them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.brand.logic import OWN_ACCOUNTS, stage_brand_post
from services.listening.errors import MentionNotFound
from services.listening.mentions import suppression
from services.listening.mentions.influence import influence_score
from services.listening.mentions.schemas import (
    MentionAccepted,
    MentionCreate,
    MentionPage,
    MentionRead,
)
from services.listening.models import Mention, new_id
from services.listening.queries.logic import MATCHING_MENTIONS, matches_of
from shared.db import utcnow
from shared.events.contracts import Analysis, Author, MatchedQuery, MentionReceived
from shared.languages import fold_language, language_aliases
from shared.pagination import keyset_bound, paginate
from shared.reads import Reader
from shared.telemetry import current_traceparent
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening")

SOURCE = "listening"


@dataclass(frozen=True, slots=True)
class AnalysedFields:
    """One tier's analysis, with a review's star rating, as the mention's columns store it
    (`mentions.analysing.analysed_fields`)."""

    language: str
    language_confidence: float
    language_variant: str | None
    sentiment_label: str
    sentiment_score: float
    sentiment_confidence: float
    intent: str
    intent_confidence: float
    analysis_tier: str
    low_confidence: bool


def analysis_of(mention: Mention | Row[Any] | AnalysedFields) -> Analysis | None:
    """The mention's effective analysis as the event contract (with confidences), or None while pending
    (from the stored mention, a row of its analysis columns, or the columns a tier's analysis sets)."""
    if mention.language is None or mention.sentiment_label is None or mention.intent is None:
        return None
    return Analysis.model_validate(
        {
            "language": mention.language,
            "language_confidence": mention.language_confidence,
            "language_variant": mention.language_variant,
            "sentiment": {
                "label": mention.sentiment_label,
                "score": mention.sentiment_score or 0.0,
                "confidence": mention.sentiment_confidence,
            },
            "intent": mention.intent,
            "intent_confidence": mention.intent_confidence,
            "tier": mention.analysis_tier or "fast",
            "low_confidence": mention.low_confidence,
        }
    )


async def _find_existing(
    session: AsyncSession, *, tenant_id: str, platform: str, external_id: str
) -> str | None:
    stmt = scoped(Mention, tenant_id).where(Mention.platform == platform, Mention.external_id == external_id)
    row = (await session.execute(stmt)).scalars().first()
    return row.id if row is not None else None


def _author_fields(mention: Mention | Row[Any]) -> dict[str, Any]:
    """The author as the event and the API both show it."""
    return {
        "handle": mention.author_handle,
        "display_name": mention.author_display_name,
        "followers": mention.author_followers,
        "verified": mention.author_verified,
        "influence": mention.influence,
    }


def received_payload(mention: Mention, *, matched: Sequence[MatchedQuery] = ()) -> MentionReceived:
    """`listening.mention.received` of an analysed mention."""
    analysis = analysis_of(mention)
    if analysis is None:
        raise ValueError("a mention is announced only once analysed")
    return MentionReceived(
        mention_id=mention.id,
        platform=mention.platform,
        external_id=mention.external_id,
        text=mention.text,
        created_at=mention.created_at,
        url=mention.url,
        author=Author(**_author_fields(mention), platform_user_id=mention.author_id),
        in_reply_to=mention.in_reply_to,
        analysis=analysis,
        matched_query_ids=[m.query_id for m in matched],
        matched_queries=list(matched),
        group_id=mention.group_id,
        channel_id=mention.channel_id,
        kind=mention.kind,
    )


def influence_of(mention_in: MentionCreate) -> float:
    """The author's influence as this post shows it."""
    engagement = mention_in.engagement
    return influence_score(
        followers=mention_in.author.followers,
        verified=mention_in.author.verified,
        likes=engagement.likes if engagement else 0,
        reposts=engagement.reposts if engagement else 0,
        replies=engagement.replies if engagement else 0,
    )


def new_mention_row(
    *, tenant_id: str, mention_in: MentionCreate, channel_id: str | None = None
) -> dict[str, Any]:
    """The table row of a newly received post, pending analysis (inserted with Core, not the ORM)."""
    author = mention_in.author
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "platform": mention_in.platform,
        "external_id": mention_in.external_id,
        "text": mention_in.text,
        "created_at": mention_in.created_at,
        "received_at": utcnow(),
        "url": mention_in.url,
        "author_handle": author.handle,
        "author_display_name": author.display_name,
        "author_followers": author.followers,
        "author_verified": author.verified,
        "influence": influence_of(mention_in),
        "author_id": author.id,
        "rating": mention_in.rating,
        "channel_id": channel_id,
        "in_reply_to": mention_in.in_reply_to,
        "kind": mention_in.kind,
        "analysis_status": "pending",
        "redacted_at": None,
        "redaction_reason": None,
        "traceparent": current_traceparent(),
        "needs_rescore": False,
        "low_confidence": False,
        "sketch": "",
    }


async def insert_mentions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert new mention rows in one statement (the caller commits, then wakes the analysis worker).

    A Core executemany on the table (not the ORM's bulk insert): every row has `new_mention_row`'s keys."""
    if rows:
        await session.execute(insert(Mention.__table__), rows)  # type: ignore[attr-defined]


def brand_post_of(
    session: AsyncSession, *, tenant_id: str, mention_in: MentionCreate, channel_id: str | None = None
) -> str:
    """Publish a post of the brand's own account as such (not a mention); the event's id."""
    return stage_brand_post(
        session,
        tenant_id=tenant_id,
        platform=mention_in.platform,
        external_id=mention_in.external_id,
        text=mention_in.text,
        created_at=mention_in.created_at,
        in_reply_to=mention_in.in_reply_to,
        channel_id=channel_id,
        account_id=mention_in.author.id,
        kind=mention_in.kind,
    )


async def ingest_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    mention_in: MentionCreate,
    commit: bool = True,
    channel_id: str | None = None,
    check_own: bool = True,
) -> MentionAccepted:
    """Store a new post as pending (the analysis worker announces it); a repeat is a duplicate.

    The caller wakes the analysis worker afterwards (`Wakeups.analysis`). With `commit=False` the mention
    is only written into the caller's transaction (webhook deliveries, pulled batches with their cursor,
    import batches): the caller commits; a concurrent duplicate then raises IntegrityError for the caller
    to retry. `channel_id`: the channel it arrived through, which alone may apply compliance events to it.
    A post by one of the tenant's own accounts is not stored: it is published as the brand's own post
    (`brand.logic`; status `brand_post`, `id` the event's) unless `check_own` is False (the caller did).
    A post by an erased author (`mentions.suppression`) is stored as an anonymous count (status
    `suppressed`): no text, no author, never announced.
    """
    if check_own and await OWN_ACCOUNTS.owns(
        session,
        tenant_id,
        platform=mention_in.platform,
        user_id=mention_in.author.id,
        handle=mention_in.author.handle,
    ):
        event_id = brand_post_of(session, tenant_id=tenant_id, mention_in=mention_in, channel_id=channel_id)
        if commit:
            await session.commit()
        return MentionAccepted(id=event_id, status="brand_post")
    # An erased author's post is kept as an anonymous count only (`mentions.suppression`).
    hidden = await suppression.is_suppressed(
        session,
        tenant_id=tenant_id,
        platform=mention_in.platform,
        handle=mention_in.author.handle,
        user_id=mention_in.author.id,
    )
    external_id = (
        suppression.hidden_external_id(tenant_id, mention_in.platform, mention_in.external_id)
        if hidden
        else mention_in.external_id
    )
    status: Literal["accepted", "suppressed"] = "suppressed" if hidden else "accepted"
    existing = await _find_existing(
        session, tenant_id=tenant_id, platform=mention_in.platform, external_id=external_id
    )
    if existing is not None:
        log.info("mention.duplicate", extra={"mention_id": existing, "tenant_id": tenant_id})
        return MentionAccepted(id=existing, status="duplicate")
    row = new_mention_row(tenant_id=tenant_id, mention_in=mention_in, channel_id=channel_id)
    if hidden:
        suppression.anonymise_row(row)
    await insert_mentions(session, [row])
    if not commit:
        log.info("mention.stored", extra={"mention_id": row["id"], "tenant_id": tenant_id})
        return MentionAccepted(id=row["id"], status=status)
    try:
        await session.commit()
    except IntegrityError:
        # A concurrent request stored the same post first: answer as its duplicate.
        await session.rollback()
        existing = await _find_existing(
            session, tenant_id=tenant_id, platform=mention_in.platform, external_id=external_id
        )
        if existing is None:
            raise
        log.info("mention.duplicate", extra={"mention_id": existing, "tenant_id": tenant_id})
        return MentionAccepted(id=existing, status="duplicate")
    log.info("mention.stored", extra={"mention_id": row["id"], "tenant_id": tenant_id})
    return MentionAccepted(id=row["id"], status=status)


def _view(mention: Row[Any] | Any, matched: list[str]) -> dict[str, Any]:
    """The API view (`MentionRead`'s fields) of a row of `READ_COLUMNS`, to validate in one call."""
    view: dict[str, Any] = mention._asdict()
    view["author"] = {
        "handle": view["author_handle"],
        "display_name": view["author_display_name"],
        "followers": view["author_followers"],
        "verified": view["author_verified"],
        "influence": view["influence"],
    }
    if view["language"] is None or view["sentiment_label"] is None or view["intent"] is None:
        view["analysis"] = None
    else:
        view["analysis"] = {
            "language": view["language"],
            "language_confidence": view["language_confidence"],
            "language_variant": view["language_variant"],
            "sentiment": {
                "label": view["sentiment_label"],
                "score": view["sentiment_score"] or 0.0,
                "confidence": view["sentiment_confidence"],
            },
            "intent": view["intent"],
            "intent_confidence": view["intent_confidence"],
            "tier": view["analysis_tier"] or "fast",
            "low_confidence": view["low_confidence"],
            "needs_rescore": view["needs_rescore"],
        }
    view["matched_query_ids"] = matched
    return view


# The columns a mention's API view shows (`_view`).
READ_COLUMNS = tuple(
    Mention.__table__.c[name]  # type: ignore[attr-defined]
    for name in (
        "id",
        "platform",
        "external_id",
        "text",
        "created_at",
        "received_at",
        "url",
        "author_handle",
        "author_display_name",
        "author_followers",
        "author_verified",
        "influence",
        "in_reply_to",
        "analysis_status",
        "language",
        "language_confidence",
        "language_variant",
        "sentiment_label",
        "sentiment_score",
        "sentiment_confidence",
        "intent",
        "intent_confidence",
        "analysis_tier",
        "low_confidence",
        "needs_rescore",
        "rating",
        "redacted_at",
        "redaction_reason",
        "edited_at",
        "group_id",
    )
)

_MENTION = select(*READ_COLUMNS).where(
    col(Mention.tenant_id) == bindparam("tenant_id"), col(Mention.id) == bindparam("id")
)


async def get_mention(reader: Reader, *, tenant_id: str, mention_id: str) -> MentionRead:
    """One mention of the tenant, or `MentionNotFound`."""
    mention = await reader.first(_MENTION, {"tenant_id": tenant_id, "id": mention_id})
    if mention is None:
        raise MentionNotFound(f"Mention {mention_id} was not found.")
    matches = await matches_of(reader, tenant_id=tenant_id, mention_ids=[mention.id])
    return MentionRead.model_validate(_view(mention, matches[mention.id]))


def _language_is(folded: str) -> ColumnElement[bool]:
    """The filter `language=code` as queries read it, of the folded code: `bs` is `hbs`, and `pt` is also
    `pt-br`.

    Codes that fold to the same one are all looked for, so rows stored before folding are found too.
    """
    codes = language_aliases(folded)
    column = col(Mention.language)
    if "-" in folded:
        return column.in_(codes)
    return or_(column.in_(codes), *(column.startswith(f"{c}-", autoescape=True) for c in codes))


# Filters of a mention page taking their value as the bind parameter of their name.
_EQUAL_FILTERS = {
    "group_id": Mention.group_id,
    "platform": Mention.platform,
    "sentiment": Mention.sentiment_label,
    "intent": Mention.intent,
}


# One statement per shape of page: which filters are given (and the folded language, whose aliases the
# statement lists), whether after a cursor. Bounded: language codes are the client's.
@functools.lru_cache(maxsize=512)
def _mention_page(
    equal: tuple[str, ...], query: bool, since: bool, until: bool, language: str | None, after: bool
) -> Select[Any]:
    stmt = select(*READ_COLUMNS).where(col(Mention.tenant_id) == bindparam("tenant_id"))
    if query:
        # A deleted or unknown query filters like any value nothing has: an empty page, not a 404.
        stmt = stmt.where(col(Mention.id).in_(MATCHING_MENTIONS))
    for name in equal:
        stmt = stmt.where(col(_EQUAL_FILTERS[name]) == bindparam(name))
    if since:
        stmt = stmt.where(col(Mention.created_at) >= bindparam("since"))
    if until:
        stmt = stmt.where(col(Mention.created_at) < bindparam("until"))
    if language is not None:
        stmt = stmt.where(_language_is(language))
    return keyset_bound(stmt, col(Mention.created_at), col(Mention.id), after=after)


async def list_mentions(
    reader: Reader,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    platform: str | None = None,
    language: str | None = None,
    sentiment: str | None = None,
    intent: str | None = None,
    query_id: str | None = None,
    group_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> MentionPage:
    """The tenant's mentions, newest post first, optionally filtered (`since` <= post time < `until`)."""
    given = {"group_id": group_id, "platform": platform, "sentiment": sentiment, "intent": intent}
    params: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    equal = tuple(params)
    params.update(tenant_id=tenant_id, query_id=query_id, since=since, until=until)
    stmt = _mention_page(
        equal,
        query_id is not None,
        since is not None,
        until is not None,
        None if language is None else fold_language(language),
        bool(cursor),
    )
    rows, next_cursor = await paginate(reader, stmt, params, limit=limit, cursor=cursor)
    matches = await matches_of(reader, tenant_id=tenant_id, mention_ids=[m.id for m in rows])
    items = [_view(m, matches[m.id]) for m in rows]
    return MentionPage.model_validate({"items": items, "next_cursor": next_cursor})
