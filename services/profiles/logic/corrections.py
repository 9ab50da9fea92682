"""Corrections of mentions already on a timeline: re-analysed, edited or redacted posts.

A corrected label changes the interaction and, recomputed from the profile's interactions, the profile's
sentiment (average and trend), last label and intent counts; an edit changes the excerpt too; a redaction
removes the excerpt and marks the interaction redacted (it still counts: the customer did post it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic import lifecycle
from services.profiles.logic.resolution import (
    EXCERPT_CHARS,
    SOURCE,
    TREND_WEIGHT,
    is_postgres,
    lifecycle_events,
    pop_segments,
    segments_column,
    updated_events,
    write_profiles,
)
from services.profiles.models import Interaction, LifecycleChange, Profile
from shared.db import utcnow
from shared.events.contracts import Analysis, MentionEdited, MentionReanalysed, MentionRedacted
from shared.events.envelope import CloudEvent
from shared.events.outbox import stage_many

log = logging.getLogger("rapport.profiles")

_I = Interaction.__table__  # type: ignore[attr-defined]
_LC = LifecycleChange.__table__  # type: ignore[attr-defined]
_P = Profile.__table__  # type: ignore[attr-defined]

__all__ = [
    "SOURCE",
    "Relabel",
    "edit_interaction",
    "reanalyse_interaction",
    "recount",
    "recount_many",
    "redact_interaction",
    "relabel_interactions",
]


@dataclass(frozen=True)
class Relabel:
    """One mention's new analysis (and, for an edit, its new text)."""

    mention_id: str
    analysis: Analysis
    text: str | None = None


async def recount(session: AsyncSession, *, tenant_id: str, profile: dict[str, Any]) -> None:
    """Recompute the profile's mention counters from its mentions (oldest first): count, sentiment sum
    and trend, last label, intent counts, languages, first and last seen."""
    await recount_many(session, tenant_id=tenant_id, profiles={profile["id"]: profile})


async def recount_many(session: AsyncSession, *, tenant_id: str, profiles: dict[str, dict[str, Any]]) -> None:
    """`recount` of several profiles with one SELECT."""
    if not profiles:
        return
    stmt = (
        select(
            _I.c.profile_id,
            _I.c.intent,
            _I.c.sentiment_label,
            _I.c.sentiment_score,
            _I.c.language,
            _I.c.occurred_at,
        )
        .where(
            _I.c.tenant_id == tenant_id, _I.c.profile_id.in_(list(profiles)), _I.c.kind == literal("mention")
        )
        .order_by(_I.c.profile_id, _I.c.occurred_at, _I.c.id)
    )
    rows: dict[str, list[Any]] = {pid: [] for pid in profiles}
    for row in await session.execute(stmt):
        rows[row.profile_id].append(row)
    for pid, profile in profiles.items():
        _count_into(profile, rows[pid])


def _count_into(profile: dict[str, Any], rows: Sequence[Any]) -> None:
    count, total, trend = 0, 0.0, 0.0
    intents: dict[str, int] = {}
    languages: list[str] = []
    for row in rows:
        score = row.sentiment_score or 0.0
        trend = score if count == 0 else trend * (1 - TREND_WEIGHT) + score * TREND_WEIGHT
        count += 1
        total += score
        if row.intent:
            intents[row.intent] = intents.get(row.intent, 0) + 1
        language = row.language
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


_RELABEL = (
    update(_I)
    .where(_I.c.tenant_id == bindparam("b_tenant"), _I.c.id == bindparam("b_id"))
    .values(
        intent=bindparam("v_intent"),
        sentiment_label=bindparam("v_label"),
        sentiment_score=bindparam("v_score"),
        language=bindparam("v_language"),
    )
)
# An edit changes the excerpt too, and nothing of a redacted interaction.
_EDIT = _RELABEL.where(_I.c.redacted.is_(False)).values(excerpt=bindparam("v_excerpt"))


async def relabel_interactions(
    session: AsyncSession, *, tenant_id: str, corrections: Sequence[Relabel]
) -> None:
    """Apply a batch of one tenant's corrected analyses (in order: a later one of a mention wins) to the
    interactions, then recount each profile concerned once, move its lifecycle, stage the events.

    Set-based: one SELECT of the interactions with their profiles and the profiles' segments (locked on
    PostgreSQL), one UPDATE (executemany) of the interactions, one SELECT to recount, one UPDATE of the
    profiles, and the inserts of lifecycle changes and events. Each correction's lifecycle step
    reads the profile's counters after the whole batch.
    """
    if not corrections:
        return
    wanted = {c.mention_id for c in corrections}
    # The interactions with their profiles and the profiles' segments (on PostgreSQL the profiles are
    # locked by it, in id order).
    stmt = (
        select(_I.c.ref_id, _I.c.id.label("interaction_id"), _P, segments_column(session))
        .join(_P, _P.c.id == _I.c.profile_id)
        .where(_I.c.tenant_id == tenant_id, _I.c.kind == literal("mention"), _I.c.ref_id.in_(wanted))
        .order_by(_P.c.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=_P)
    found: dict[str, tuple[str, str]] = {}
    profiles: dict[str, dict[str, Any]] = {}
    segments: dict[str, set[str]] = {}
    for found_row in await session.execute(stmt):
        data = dict(found_row._mapping)
        segment_ids = pop_segments(data)
        found[data.pop("ref_id")] = (data.pop("interaction_id"), data["id"])
        if data["id"] not in profiles:
            profiles[data["id"]] = data
            segments[data["id"]] = segment_ids
    for mention_id in sorted(wanted - set(found)):
        # Not resolved (yet): the mention arrives with its current analysis, nothing to correct here.
        log.info("interaction.correction_unknown", extra={"mention_id": mention_id, "tenant_id": tenant_id})
    known = [c for c in corrections if c.mention_id in found]
    if not known:
        return
    before = {pid: dict(row) for pid, row in profiles.items()}
    relabels: list[dict[str, Any]] = []
    edits: list[dict[str, Any]] = []
    for c in known:
        params = {
            "b_tenant": tenant_id,
            "b_id": found[c.mention_id][0],
            "v_intent": c.analysis.intent,
            "v_label": c.analysis.sentiment.label,
            "v_score": c.analysis.sentiment.score,
            "v_language": c.analysis.language,
        }
        if c.text is None:
            relabels.append(params)
        else:
            edits.append({**params, "v_excerpt": c.text[:EXCERPT_CHARS]})
    if relabels:
        await session.execute(_RELABEL, relabels)
    if edits:
        await session.execute(_EDIT, edits)
    await recount_many(session, tenant_id=tenant_id, profiles=profiles)
    now = utcnow()
    changes: list[dict[str, Any]] = []
    events: list[CloudEvent] = []
    for c in known:
        profile = profiles.get(found[c.mention_id][1])
        if profile is None:
            continue
        new, change = lifecycle.after_mention(
            lifecycle.Lifecycle(profile["lifecycle_stage"], profile["at_risk"]),
            intent=c.analysis.intent,
            sentiment_label=c.analysis.sentiment.label,
            sentiment_trend=profile["sentiment_trend"],
            interactions=profile["mention_count"],
            recent_praise=0,
        )
        if change is not None:
            profile["lifecycle_stage"], profile["at_risk"] = new.stage, new.at_risk
            row, event = lifecycle_events(tenant_id, profile["id"], change, now)
            changes.append(row)
            events.append(event)
    for profile in profiles.values():
        profile["updated_at"] = now
    await write_profiles(session, tenant_id=tenant_id, rows=list(profiles.values()))
    if changes:
        await session.execute(insert(_LC), changes)
    events.extend(updated_events(tenant_id, before, profiles, segments))
    await stage_many(session, events)


async def reanalyse_interaction(
    session: AsyncSession, *, tenant_id: str, reanalysed: MentionReanalysed
) -> None:
    """A mention's analysis changed (quality tier or an agent's correction)."""
    await relabel_interactions(
        session, tenant_id=tenant_id, corrections=[Relabel(reanalysed.mention_id, reanalysed.analysis)]
    )


async def edit_interaction(session: AsyncSession, *, tenant_id: str, edited: MentionEdited) -> None:
    """The author edited the post: new excerpt, new labels."""
    await relabel_interactions(
        session, tenant_id=tenant_id, corrections=[Relabel(edited.mention_id, edited.analysis, edited.text)]
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
