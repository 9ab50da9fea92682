"""Consent captured where the customer gives it: a keyword in a private message, a survey's opt-in.

A private message (a WhatsApp message or a DM: a post of kind `message`) whose whole text is one of the
tenant's keywords, ignoring case and surrounding spaces, stages `privacy.consent.captured` for the
profile it was resolved to, with the evidence (the message, the keyword, the channel); profiles writes it
into the consent ledger. The message itself goes on to routing like any other (an agent sees it). The
keyword lists are per tenant (`GET/PUT /v1/consent-keywords`), with defaults: START, YES and SUBSCRIBE
grant marketing, STOP and UNSUBSCRIBE withdraw it.

The check runs on every resolved post, so it is cheap: public posts and texts longer than the longest
keyword are passed over before anything is looked up, and a tenant's keywords are held per process in
the tenant configuration cache (`logic.tenant_cache`: an edit bumps the tenant's version), so a post costs
no query beyond the cache's periodic version check.

A survey answered by its link with `marketing_opt_in: true` stages a marketing grant with source
`survey`; false or absent says nothing (not ticking a box is no withdrawal).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.logic.tenant_cache import TenantCache, bump_version
from services.engagement.models import Message, Survey
from services.engagement.tenant_privacy.models import TenantPrivacy
from services.engagement.tenant_privacy.schemas import (
    KEYWORD_MAX,
    ConsentKeyword,
    ConsentKeywordsRead,
    ConsentKeywordsUpdate,
)
from shared.db import utcnow
from shared.events.contracts import ConsentCaptured, MentionResolved
from shared.events.envelope import new_event
from shared.events.outbox import stage

log = logging.getLogger("rapport.engagement.consent_capture")

SOURCE = "engagement"
DEFAULT_KEYWORDS: tuple[ConsentKeyword, ...] = (
    *(ConsentKeyword(keyword=word, status="granted") for word in ("START", "YES", "SUBSCRIBE")),
    *(ConsentKeyword(keyword=word, status="withdrawn") for word in ("STOP", "UNSUBSCRIBE")),
)


@dataclass(frozen=True)
class Keywords:
    """A tenant's keywords by their folded form, and the longest one's length (longer texts are skipped)."""

    by_word: dict[str, ConsentKeyword]
    longest: int


def _index(keywords: list[ConsentKeyword] | tuple[ConsentKeyword, ...]) -> Keywords:
    by_word = {item.keyword.casefold(): item for item in keywords}
    return Keywords(by_word=by_word, longest=max((len(word) for word in by_word), default=0))


DEFAULTS = _index(DEFAULT_KEYWORDS)

_STORED = select(col(TenantPrivacy.consent_keywords)).where(
    col(TenantPrivacy.tenant_id) == bindparam("tenant_id")
)


def _parse(stored: str | None) -> list[ConsentKeyword] | None:
    return None if stored is None else [ConsentKeyword.model_validate(item) for item in json.loads(stored)]


async def _load(session: AsyncSession, tenant_id: str) -> Keywords:
    stored = _parse((await session.execute(_STORED, {"tenant_id": tenant_id})).scalar())
    return DEFAULTS if stored is None else _index(stored)


KEYWORDS: TenantCache[Keywords] = TenantCache(_load)


def keyword_source(platform: str, kind: str | None) -> str | None:
    """The ledger source of a keyword on this kind of post; None: not a private message (no capture)."""
    if kind != "message":
        return None
    return "whatsapp_keyword" if platform == "whatsapp" else "dm_keyword"


async def capture_keyword(
    session: AsyncSession, *, tenant_id: str, resolved: MentionResolved, message: Message | None
) -> bool:
    """A private message that is exactly one of the tenant's keywords → `privacy.consent.captured` staged
    (no commit). `message`: the message the post became, if routing stored one."""
    mention = resolved.mention
    platform, kind = mention.platform, getattr(mention, "kind", None)
    source = keyword_source(platform, kind)
    text = mention.text.strip()
    if source is None or not text or len(text) > KEYWORD_MAX:
        return False
    keywords = await KEYWORDS.get(session, tenant_id)
    if len(text) > keywords.longest:
        return False
    found = keywords.by_word.get(text.casefold())
    if found is None:
        return False
    evidence = {
        "message_id": message.id if message is not None else mention.mention_id,
        "mention_id": mention.mention_id,
        "keyword": found.keyword,
        "platform": platform,
    }
    channel_id = getattr(mention, "channel_id", None)
    if isinstance(channel_id, str):
        evidence["channel_id"] = channel_id
    stage(
        session,
        new_event(
            ConsentCaptured(
                profile_id=resolved.profile_id,
                purpose=found.purpose,
                status=found.status,
                source=source,
                evidence=evidence,
                captured_at=mention.created_at,
            ),
            source=SOURCE,
            tenant_id=tenant_id,
        ),
    )
    log.info(
        "consent.captured",
        extra={"tenant_id": tenant_id, "purpose": found.purpose, "status": found.status, "source": source},
    )
    return True


def capture_survey_opt_in(session: AsyncSession, *, survey: Survey) -> None:
    """A survey answered with the marketing opt-in → a marketing grant staged (no commit)."""
    now = utcnow()
    stage(
        session,
        new_event(
            ConsentCaptured(
                profile_id=survey.profile_id,
                purpose="marketing",
                status="granted",
                source="survey",
                evidence={"survey_id": survey.id, "conversation_id": survey.conversation_id},
                captured_at=now,
            ),
            source=SOURCE,
            tenant_id=survey.tenant_id,
        ),
    )
    log.info(
        "consent.captured", extra={"tenant_id": survey.tenant_id, "purpose": "marketing", "source": "survey"}
    )


# --- the keyword list (GET/PUT /v1/consent-keywords) ----------------------------------------------


def _read(row: TenantPrivacy | None) -> ConsentKeywordsRead:
    stored = None if row is None else _parse(row.consent_keywords)
    if row is None or stored is None:
        return ConsentKeywordsRead(keywords=list(DEFAULT_KEYWORDS), default=True)
    return ConsentKeywordsRead(
        keywords=stored, default=False, updated_by=row.keywords_updated_by, updated_at=row.updated_at
    )


async def get_keywords(session: AsyncSession, *, tenant_id: str) -> ConsentKeywordsRead:
    """The tenant's consent keywords (the defaults until it sets its own)."""
    return _read(await session.get(TenantPrivacy, tenant_id))


async def put_keywords(
    session: AsyncSession, *, tenant_id: str, update: ConsentKeywordsUpdate, by_user_id: str
) -> ConsentKeywordsRead:
    """Replace the tenant's consent keywords; every replica's cache follows (the tenant's version moves)."""
    row = await session.get(TenantPrivacy, tenant_id) or TenantPrivacy(tenant_id=tenant_id)
    row.consent_keywords = json.dumps([item.model_dump() for item in update.keywords], ensure_ascii=False)
    row.keywords_updated_by = by_user_id
    row.updated_at = utcnow()
    session.add(row)
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("consent_keywords.put", extra={"tenant_id": tenant_id, "count": len(update.keywords)})
    return _read(row)
