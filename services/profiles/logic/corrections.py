"""Corrections of mentions already on a timeline: re-analysed, edited or redacted posts.

A corrected label changes the interaction and, recomputed from the profile's interactions, the profile's
sentiment (average and trend), last label and intent counts; an edit changes the excerpt too; a redaction
removes the excerpt and marks the interaction redacted (it still counts: the customer did post it).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic import lifecycle
from services.profiles.logic.resolution import (
    EXCERPT_CHARS,
    SOURCE,
    TREND_WEIGHT,
    lifecycle_events,
    lock_profiles,
    segment_ids_of,
    updated_events,
    write_profiles,
)
from services.profiles.models import Interaction, LifecycleChange
from shared.db import utcnow
from shared.events.contracts import Analysis, MentionEdited, MentionReanalysed, MentionRedacted
from shared.events.outbox import stage_many

log = logging.getLogger("rapport.profiles")

_I = Interaction.__table__  # type: ignore[attr-defined]
_LC = LifecycleChange.__table__  # type: ignore[attr-defined]

__all__ = ["SOURCE", "edit_interaction", "reanalyse_interaction", "recount", "redact_interaction"]


async def _interaction(session: AsyncSession, tenant_id: str, mention_id: str) -> Any:
    stmt = select(_I.c.id, _I.c.profile_id).where(
        _I.c.tenant_id == tenant_id, _I.c.kind == literal("mention"), _I.c.ref_id == mention_id
    )
    return (await session.execute(stmt)).first()


async def recount(session: AsyncSession, *, tenant_id: str, profile: dict[str, Any]) -> None:
    """Recompute the profile's mention counters from its mentions (oldest first): count, sentiment sum
    and trend, last label, intent counts, languages, first and last seen."""
    stmt = (
        select(_I.c.intent, _I.c.sentiment_label, _I.c.sentiment_score, _I.c.language, _I.c.occurred_at)
        .where(_I.c.tenant_id == tenant_id, _I.c.profile_id == profile["id"], _I.c.kind == literal("mention"))
        .order_by(_I.c.occurred_at, _I.c.id)
    )
    rows = (await session.execute(stmt)).all()
    count, total, trend = 0, 0.0, 0.0
    intents: dict[str, int] = {}
    languages: list[str] = []
    for intent, _label, score, language, _at in rows:
        score = score or 0.0
        trend = score if count == 0 else trend * (1 - TREND_WEIGHT) + score * TREND_WEIGHT
        count += 1
        total += score
        if intent:
            intents[intent] = intents.get(intent, 0) + 1
        if language and language != "und":
            languages = [language, *(code for code in languages if code != language)]
    profile["mention_count"] = count
    profile["sentiment_sum"] = total
    profile["sentiment_trend"] = trend
    profile["intent_counts"] = intents
    profile["languages"] = languages[:8]
    if rows:
        profile["last_sentiment"] = rows[-1].sentiment_label
        profile["first_seen_at"] = rows[0].occurred_at
        profile["last_seen_at"] = rows[-1].occurred_at
    else:
        profile["last_sentiment"] = None


async def _relabel(
    session: AsyncSession, *, tenant_id: str, mention_id: str, analysis: Analysis, text: str | None
) -> None:
    found = await _interaction(session, tenant_id, mention_id)
    if found is None:
        # Not resolved (yet): the mention arrives with its current analysis, nothing to correct here.
        log.info("interaction.correction_unknown", extra={"mention_id": mention_id, "tenant_id": tenant_id})
        return
    profiles = await lock_profiles(session, tenant_id=tenant_id, ids=[found.profile_id])
    profile = profiles[found.profile_id]
    before = {found.profile_id: dict(profile)}
    values: dict[str, Any] = {
        "intent": analysis.intent,
        "sentiment_label": analysis.sentiment.label,
        "sentiment_score": analysis.sentiment.score,
        "language": analysis.language,
    }
    if text is not None:
        values["excerpt"] = text[:EXCERPT_CHARS]
    stmt = update(_I).where(_I.c.tenant_id == tenant_id, _I.c.id == found.id)
    if text is not None:
        stmt = stmt.where(_I.c.redacted.is_(False))
    await session.execute(stmt.values(**values))
    await recount(session, tenant_id=tenant_id, profile=profile)
    now = utcnow()
    new, change = lifecycle.after_mention(
        lifecycle.Lifecycle(profile["lifecycle_stage"], profile["at_risk"]),
        intent=analysis.intent,
        sentiment_label=analysis.sentiment.label,
        sentiment_trend=profile["sentiment_trend"],
        interactions=profile["mention_count"],
        recent_praise=0,
    )
    events = []
    if change is not None:
        profile["lifecycle_stage"], profile["at_risk"] = new.stage, new.at_risk
        row, event = lifecycle_events(tenant_id, profile["id"], change, now)
        await session.execute(_LC.insert().values(**row))
        events.append(event)
    profile["updated_at"] = now
    await write_profiles(session, tenant_id=tenant_id, rows=[profile])
    segments = await segment_ids_of(session, tenant_id=tenant_id, ids=[profile["id"]])
    events.extend(updated_events(tenant_id, before, profiles, segments))
    await stage_many(session, events)


async def reanalyse_interaction(
    session: AsyncSession, *, tenant_id: str, reanalysed: MentionReanalysed
) -> None:
    """A mention's analysis changed (quality tier or an agent's correction)."""
    await _relabel(
        session,
        tenant_id=tenant_id,
        mention_id=reanalysed.mention_id,
        analysis=reanalysed.analysis,
        text=None,
    )


async def edit_interaction(session: AsyncSession, *, tenant_id: str, edited: MentionEdited) -> None:
    """The author edited the post: new excerpt, new labels."""
    await _relabel(
        session, tenant_id=tenant_id, mention_id=edited.mention_id, analysis=edited.analysis, text=edited.text
    )


async def redact_interaction(session: AsyncSession, *, tenant_id: str, redacted: MentionRedacted) -> None:
    """The post was removed on its platform: the interaction keeps no text (counters unchanged)."""
    stmt = (
        update(_I)
        .where(
            _I.c.tenant_id == tenant_id, _I.c.kind == literal("mention"), _I.c.ref_id == redacted.mention_id
        )
        .values(redacted=True, excerpt=None)
    )
    result: Any = await session.execute(stmt)
    if not result.rowcount:
        log.info("interaction.redact_unknown", extra={"mention_id": redacted.mention_id})
