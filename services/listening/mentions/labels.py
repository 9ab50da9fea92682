"""Agent corrections of a mention's analysis, kept as the tenant's labelled data."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.errors import MentionNotAnalysed, MentionNotFound
from services.listening.mentions.analysing import stage_reanalysed
from services.listening.mentions.logic import analysis_of
from services.listening.mentions.schemas import LabelCreate, LabelPage, LabelRead, MentionStats
from services.listening.models import Mention, MentionLabel
from shared.languages import fold_language, variant_of
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.listening.labels")


def _read(label: MentionLabel | Row[Any], text: str | None = None) -> LabelRead:
    return LabelRead(
        id=label.id,
        mention_id=label.mention_id,
        user_id=label.user_id,
        sentiment=label.sentiment,
        intent=label.intent,
        language=label.language,
        created_at=label.created_at,
        text=text,
    )


async def add_label(
    session: AsyncSession, *, tenant_id: str, user_id: str, mention_id: str, label_in: LabelCreate
) -> LabelRead:
    """Store the correction, make it the mention's effective analysis (tier "human"), announce it."""
    mention = await get_scoped(session, Mention, tenant_id=tenant_id, id=mention_id, error=MentionNotFound)
    previous = analysis_of(mention)
    if previous is None or mention.analysis_status != "analysed":
        raise MentionNotAnalysed("The mention is not analysed yet; label it once its analysis is in.")
    if mention.redacted_at is not None:
        raise MentionNotAnalysed("The post was removed on its platform; it can no longer be labelled.")
    label = MentionLabel(
        tenant_id=tenant_id,
        mention_id=mention.id,
        user_id=user_id,
        sentiment=label_in.sentiment,
        intent=label_in.intent,
        language=label_in.language,
    )
    session.add(label)
    if label_in.sentiment is not None:
        mention.sentiment_label = label_in.sentiment
        mention.sentiment_confidence = 1.0
        # Keep the machine's score when it agrees in sign; otherwise the label's canonical score.
        score = mention.sentiment_score or 0.0
        canonical = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}[label_in.sentiment]
        agrees = (score < 0) == (canonical < 0) and (score > 0) == (canonical > 0)
        mention.sentiment_score = score if agrees and label_in.sentiment != "neutral" else canonical
    if label_in.intent is not None:
        mention.intent = label_in.intent
        mention.intent_confidence = 1.0
    if label_in.language is not None:
        # Stored as the analysis would report it (`bs` → `hbs` with variant `bs`): filters, query
        # language lists and the metrics' buckets then see one language, not two.
        mention.language = fold_language(label_in.language)
        mention.language_confidence = 1.0
        mention.language_variant = variant_of(label_in.language)
    mention.analysis_tier = "human"
    mention.needs_rescore = False
    mention.low_confidence = False
    stage_reanalysed(session, mention, previous=previous, reason="label")
    await session.commit()
    log.info("mention.labelled", extra={"mention_id": mention.id, "label_id": label.id})
    return _read(label, mention.text)


_TEXTS = select(col(Mention.id), col(Mention.text)).where(
    col(Mention.tenant_id) == bindparam("tenant_id"),
    col(Mention.id).in_(bindparam("ids", expanding=True)),
)


async def list_labels(reader: Reader, *, tenant_id: str, limit: int, cursor: str | None) -> LabelPage:
    """The tenant's corrections, newest first, each with its mention's text (the labelled data set)."""
    rows, next_cursor = await page_of(
        reader, MentionLabel, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=LabelRead
    )
    ids = list({r.mention_id for r in rows})
    texts: dict[str, str] = {}
    if ids:
        texts = {i: t for i, t in await reader.all(_TEXTS, {"tenant_id": tenant_id, "ids": ids})}
    items = [{**r._asdict(), "text": texts.get(r.mention_id)} for r in rows]
    return LabelPage.model_validate({"items": items, "next_cursor": next_cursor})


_BACKLOG = (
    select(col(Mention.analysis_status), col(Mention.needs_rescore), func.count())
    .where(col(Mention.tenant_id) == bindparam("tenant_id"))
    .group_by(col(Mention.analysis_status), col(Mention.needs_rescore))
)


async def mention_stats(reader: Reader, *, tenant_id: str) -> MentionStats:
    """The tenant's analysis backlog: pending (incl. analysing), awaiting a quality re-score, analysed."""
    pending = rescore = analysed = 0
    for status, needs, count in await reader.all(_BACKLOG, {"tenant_id": tenant_id}):
        if status == "analysed":
            analysed += count
            if needs:
                rescore += count
        else:
            pending += count
    return MentionStats(pending=pending, needs_rescore=rescore, analysed=analysed)
