"""Folding events into metrics' fact rows, one transaction per fetched batch.

Three consumers, one per stream (`listening.>`, `profiles.profile.>`, `engagement.>`), each handed its
batch in stream order. Every fold is idempotent and order-tolerant on its own (the consumers keep no
inbox): rows are keyed by the ids the events carry, an insert of a known row does nothing, a time that
only moves one way takes the earliest (first response, first sighting) or the latest, and a field that
changes over time (a mention's analysis, a conversation's status or assignee, a profile's snapshot) is
written only by an event at least as recent as the one that wrote it last. So a duplicated event changes
nothing, and a late one changes only what it is the latest word on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.metrics import privacy
from services.metrics.logic import rollups, summaries
from services.metrics.logic.rollups import utc
from services.metrics.models import (
    AlertFact,
    ConversationFact,
    MentionFact,
    MentionHashtagFact,
    MentionQueryFact,
    OrderFact,
    ProfileFact,
    SurveyFact,
)
from shared.events import contracts as c
from shared.events.envelope import Event
from shared.hashtags import hashtags
from shared.languages import fold_language

log = logging.getLogger("rapport.metrics.facts")

# The fields of a profile snapshot metrics keeps (an update naming none of them is skipped). A merge's
# update of the survivor need not name `lifetime_value`: until a snapshot taken after the merge arrives,
# the merged profile's own value is added to the survivor's (see `card.clv_rows`).
FOLDED_CHANGES = frozenset({"order_count", "lifetime_value", "lifecycle_stage"})
RESOLVED = frozenset({"resolved", "closed"})


@functools.cache
def _insert_statement(model: type[SQLModel], dialect: str) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` into the model's table, built (and compiled) once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]


async def _insert_new(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows, leaving those whose key is already there as they are (one statement, its rows sent
    together as one multi-row insert by the driver)."""
    if rows:
        stmt = _insert_statement(model, session.get_bind().dialect.name)
        await session.execute(stmt, rows)


def _newer(at: datetime, last: datetime | None) -> bool:
    return last is None or utc(at) >= utc(last)


# A batch's rows, loaded once: (tenant, id) → the row, or None when the database has none.
RowCache = dict[tuple[str, str], Any]


def _cache(session: AsyncSession, model: type[SQLModel]) -> RowCache:
    cache: RowCache = session.info.setdefault(model.__tablename__, {})
    return cache


async def _load(session: AsyncSession, model: Any, key: str, wanted: dict[str, set[str]]) -> None:
    """Load the rows a batch is about in one query per tenant (instead of one per event)."""
    cache = _cache(session, model)
    for tenant_id, ids in wanted.items():
        missing = {i for i in ids if (tenant_id, i) not in cache}
        if not missing:
            continue
        found = await session.scalars(
            select(model).where(model.tenant_id == tenant_id, getattr(model, key).in_(sorted(missing)))
        )
        for row in found:
            cache[(tenant_id, getattr(row, key))] = row
        for i in missing:
            cache.setdefault((tenant_id, i), None)


async def _get(session: AsyncSession, model: Any, tenant_id: str, id_: str) -> Any:
    cache = _cache(session, model)
    if (tenant_id, id_) not in cache:
        cache[(tenant_id, id_)] = await session.get(model, (tenant_id, id_))
    return cache[(tenant_id, id_)]


def _new(session: AsyncSession, row: Any, tenant_id: str, id_: str) -> Any:
    session.add(row)
    _cache(session, type(row))[(tenant_id, id_)] = row
    return row


# --- listening ------------------------------------------------------------------------------------


async def add_mentions(session: AsyncSession, tenant_id: str, mentions: Sequence[c.MentionReceived]) -> None:
    """listening.mention.received: the mention's row, one row per listening query it matched and one per
    hashtag of its text."""
    rows: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for m in mentions:
        rows.append(
            {
                "tenant_id": tenant_id,
                "mention_id": m.mention_id,
                "created_at": utc(m.created_at),
                "platform": m.platform[:64],
                "channel_id": m.channel_id,
                "language": fold_language(m.analysis.language)[:16],
                "sentiment": m.analysis.sentiment.label,
                "intent": m.analysis.intent,
                "analysed_at": utc(m.created_at),
            }
        )
        kinds = {q.query_id: q.kind for q in m.matched_queries}
        for query_id in m.matched_query_ids:
            kinds.setdefault(query_id, "topic")
        matches.extend(
            {"tenant_id": tenant_id, "mention_id": m.mention_id, "query_id": qid, "kind": kind}
            for qid, kind in sorted(kinds.items())
        )
        tags.extend({"tenant_id": tenant_id, "mention_id": m.mention_id, "tag": t} for t in hashtags(m.text))
    await _insert_new(session, MentionFact, rows)
    await _insert_new(session, MentionQueryFact, matches)
    if tags:
        # A post removed before this (late or repeated) `received` keeps no words of its text.
        mf = MentionFact
        removed = set(
            await session.scalars(
                select(col(mf.mention_id)).where(
                    col(mf.tenant_id) == tenant_id,
                    col(mf.mention_id).in_(sorted({t["mention_id"] for t in tags})),
                    col(mf.removed_at).is_not(None),
                )
            )
        )
        await _insert_new(session, MentionHashtagFact, [t for t in tags if t["mention_id"] not in removed])


async def reanalyse_mention(
    session: AsyncSession,
    tenant_id: str,
    mention_id: str,
    analysis: c.Analysis,
    at: datetime,
    text: str | None = None,
) -> None:
    """listening.mention.reanalysed / .edited: the mention takes its new labels (unless a newer one came),
    and an edit's `text` its hashtags."""
    row = await _get(session, MentionFact, tenant_id, mention_id)
    if row is None or row.removed_at is not None or not _newer(at, row.analysed_at):
        return
    if text is not None:
        await _drop_hashtags(session, tenant_id, mention_id)
        await _insert_new(
            session,
            MentionHashtagFact,
            [{"tenant_id": tenant_id, "mention_id": mention_id, "tag": t} for t in hashtags(text)],
        )
    row.language = fold_language(analysis.language)[:16]
    row.sentiment = analysis.sentiment.label
    row.intent = analysis.intent
    row.analysed_at = utc(at)
    session.add(row)


async def remove_mention(
    session: AsyncSession, tenant_id: str, redacted: c.MentionRedacted, at: datetime
) -> None:
    """listening.mention.redacted: the post is gone, so it leaves every figure it was in, and its hashtags
    are deleted. Its row stays as a tombstone (written from this event if the mention was never seen),
    which a repeated or late `received` does not overwrite."""
    row = await _get(session, MentionFact, tenant_id, redacted.mention_id)
    if row is None:
        row = MentionFact(
            tenant_id=tenant_id,
            mention_id=redacted.mention_id,
            created_at=utc(redacted.created_at),
            platform=redacted.platform[:64],
            language=fold_language(redacted.analysis.language)[:16],
            sentiment=redacted.analysis.sentiment.label,
            intent=redacted.analysis.intent,
            analysed_at=utc(redacted.created_at),
        )
        _new(session, row, tenant_id, redacted.mention_id)
    if row.removed_at is None:
        row.removed_at = utc(at)
        session.add(row)
    # Its hashtags are words of its text: gone with it.
    await _drop_hashtags(session, tenant_id, redacted.mention_id)


async def _drop_hashtags(session: AsyncSession, tenant_id: str, mention_id: str) -> None:
    h = MentionHashtagFact
    await session.execute(delete(h).where(col(h.tenant_id) == tenant_id, col(h.mention_id) == mention_id))


async def on_listening(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new event of the listening stream, in order; the mentions' hourly and daily counts take what
    the batch changed (`rollups`), in the same transaction."""
    wanted, before = await rollups.before(session, events)
    await _fold_listening(session, events)
    await rollups.apply(session, wanted, before)


async def _fold_listening(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    received: dict[str, list[c.MentionReceived]] = {}
    for event in events:
        data = event.data.model_dump()
        if event.type == "listening.mention.received":
            received.setdefault(event.tenantid, []).append(c.MentionReceived.model_validate(data))
            continue
        # Received mentions first: a later event in the batch may be about one of them.
        for tenant_id, mentions in received.items():
            await add_mentions(session, tenant_id, mentions)
        received = {}
        if event.type in ("listening.mention.reanalysed", "listening.mention.edited"):
            changed = c.MentionReanalysed.model_validate({"reason": "label", **data})
            text = data.get("text") if event.type == "listening.mention.edited" else None
            await reanalyse_mention(
                session, event.tenantid, changed.mention_id, changed.analysis, event.time, text
            )
        elif event.type == "listening.mention.redacted":
            await remove_mention(session, event.tenantid, c.MentionRedacted.model_validate(data), event.time)
        elif event.type == "listening.alert.raised":
            alert = c.AlertRaised.model_validate(data)
            row = {
                "tenant_id": event.tenantid,
                "alert_id": alert.alert_id,
                "query_id": alert.query_id,
                "kind": alert.kind,
                "bucket_start": utc(alert.bucket_start),
            }
            await _insert_new(session, AlertFact, [row])
    for tenant_id, mentions in received.items():
        await add_mentions(session, tenant_id, mentions)


# --- engagement -----------------------------------------------------------------------------------


async def _conversation(session: AsyncSession, tenant_id: str, conversation_id: str) -> ConversationFact:
    row: ConversationFact | None = await _get(session, ConversationFact, tenant_id, conversation_id)
    if row is None:
        row = ConversationFact(tenant_id=tenant_id, conversation_id=conversation_id)
        _new(session, row, tenant_id, conversation_id)
    return row


def _min(a: datetime | None, b: datetime) -> datetime:
    return utc(b) if a is None else min(utc(a), utc(b))


async def _opened(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    opened = c.ConversationOpened.model_validate(data)
    row = await _conversation(session, event.tenantid, opened.conversation_id)
    row.opened_at = utc(opened.opened_at)
    row.profile_id, row.mention_id, row.priority = opened.profile_id, opened.mention_id, opened.priority
    if row.assignee_id is None and opened.assignee_id is not None:
        row.assignee_id, row.assigned_at = opened.assignee_id, utc(opened.opened_at)
    row.team_id = row.team_id or opened.team_id
    # Deadlines the SLA events named win: they are the clock's latest word.
    if opened.first_response_due_at is not None and row.first_response_due_at is None:
        row.first_response_due_at = utc(opened.first_response_due_at)
    if opened.resolution_due_at is not None and row.resolution_due_at is None:
        row.resolution_due_at = utc(opened.resolution_due_at)
    if row.status is None:
        row.status, row.status_at = "open", utc(opened.opened_at)


async def _assigned(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    assigned = c.ConversationAssigned.model_validate(data)
    row = await _conversation(session, event.tenantid, assigned.conversation_id)
    if _newer(event.time, row.assigned_at):
        row.assignee_id, row.assigned_at = assigned.assignee_id, utc(event.time)
        row.team_id = assigned.team_id or row.team_id


def _move(row: ConversationFact, to_status: str, at: datetime, business_s: float | None = None) -> None:
    """A status at `at` (applied unless a later one came first); the first resolution is remembered
    either way. Resolved then closed keeps the resolution's time (and its business-hours duration);
    any other status clears it."""
    if to_status in RESOLVED:
        row.first_resolved_at = _min(row.first_resolved_at, at)
    if not _newer(at, row.status_at):
        return
    previous = row.status
    row.status, row.status_at = to_status, utc(at)
    if to_status in RESOLVED:
        if previous not in RESOLVED or row.resolved_at is None:
            row.resolved_at, row.resolution_business_s = utc(at), business_s
    else:
        row.resolved_at, row.resolution_business_s = None, None


async def _status(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    changed = c.ConversationStatusChanged.model_validate(data)
    row = await _conversation(session, event.tenantid, changed.conversation_id)
    if changed.cause == "merged":
        return  # the merge event says where it went; a merged conversation is no resolution
    _move(row, changed.to_status, changed.changed_at, changed.business_seconds)


async def _reopened(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    reopened = c.ConversationReopened.model_validate(data)
    row = await _conversation(session, event.tenantid, reopened.conversation_id)
    row.reopen_count = max(row.reopen_count, reopened.reopen_count)
    _move(row, "open", reopened.reopened_at)


async def _first_responded(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    responded = c.ConversationFirstResponded.model_validate(data)
    row = await _conversation(session, event.tenantid, responded.conversation_id)
    if row.first_response_at is None or utc(responded.responded_at) < utc(row.first_response_at):
        row.first_response_at = utc(responded.responded_at)
        row.first_response_business_s = responded.business_seconds
    if row.opened_at is None:
        row.opened_at = utc(responded.opened_at)


async def _merged(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    merged = c.ConversationMerged.model_validate(data)
    row = await _conversation(session, event.tenantid, merged.merged_id)
    row.merged_into = merged.conversation_id


async def _sla(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    fired = c.SlaBreached.model_validate(data)  # a warning has the same fields
    row = await _conversation(session, event.tenantid, fired.conversation_id)
    breached = event.type == "engagement.sla.breached"
    if fired.target == "first_response":
        row.first_response_due_at = utc(fired.due_at)
        row.first_response_breached = row.first_response_breached or breached
    else:
        row.resolution_due_at = utc(fired.due_at)
        row.resolution_breached = row.resolution_breached or breached
    row.team_id = row.team_id or fired.team_id


async def _survey(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    answered = c.SurveyAnswered.model_validate(data)
    row = {
        "tenant_id": event.tenantid,
        "survey_id": answered.survey_id,
        "kind": answered.kind,
        "score": answered.score,
        "conversation_id": answered.conversation_id,
        "profile_id": answered.profile_id,
        "assignee_id": answered.assignee_id,
        "channel_id": answered.channel_id,
        "platform": answered.platform,
        "answered_at": utc(answered.answered_at),
    }
    await _insert_new(session, SurveyFact, [row])


Fold = Callable[[AsyncSession, Event[c.Contract], dict[str, Any]], Coroutine[Any, Any, None]]

ENGAGEMENT: dict[str, Fold] = {
    "engagement.conversation.opened": _opened,
    "engagement.conversation.assigned": _assigned,
    "engagement.conversation.status_changed": _status,
    "engagement.conversation.reopened": _reopened,
    "engagement.conversation.first_responded": _first_responded,
    "engagement.conversation.merged": _merged,
    "engagement.sla.warning": _sla,
    "engagement.sla.breached": _sla,
    "engagement.survey.answered": _survey,
}


async def on_engagement(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new event of the engagement stream, in order (messages, replies and webhooks are skipped:
    the conversation events already say when it was answered); erased profile ids already random."""
    events = await privacy.anonymised(session, events)
    wanted: dict[str, set[str]] = {}
    for event in events:
        if event.type in ENGAGEMENT and event.type != "engagement.survey.answered":
            extra = event.data.model_extra or {}
            ids = {extra.get("conversation_id"), extra.get("merged_id")} - {None}
            wanted.setdefault(event.tenantid, set()).update(str(i) for i in ids)
    answers = [
        (event.tenantid, c.SurveyAnswered.model_validate(event.data.model_dump()))
        for event in events
        if event.type == "engagement.survey.answered"
    ]
    if not wanted and not answers:
        return
    await summaries.lock(session, "engagement", {*wanted, *(t for t, _ in answers)})
    await _load(session, ConversationFact, "conversation_id", wanted)
    # The day summaries take what the batch changed (`summaries`), in the same transaction.
    cache = _cache(session, ConversationFact)
    touched = [(t, i) for t, ids in wanted.items() for i in sorted(ids)]
    before = summaries.conversations_now((t, cache.get((t, i))) for t, i in touched)
    added = await summaries.new_answers(session, answers)
    for event in events:
        fold = ENGAGEMENT.get(event.type)
        if fold is not None:
            await fold(session, event, event.data.model_dump())
    delta = summaries.conversations_now((t, cache.get((t, i))) for t, i in touched).minus(before)
    delta.update(added)
    await summaries.apply(session, delta)


# --- profiles -------------------------------------------------------------------------------------


async def _profile(session: AsyncSession, tenant_id: str, profile_id: str) -> ProfileFact:
    row: ProfileFact | None = await _get(session, ProfileFact, tenant_id, profile_id)
    if row is None:
        row = ProfileFact(tenant_id=tenant_id, profile_id=profile_id)
        _new(session, row, tenant_id, profile_id)
    return row


async def survivor_of(session: AsyncSession, tenant_id: str, profile_id: str) -> str:
    """The profile `profile_id` counts as now: itself, or the survivor of the merges it went into."""
    current = profile_id
    for _ in range(summaries.MAX_MERGE_HOPS):
        row = await _get(session, ProfileFact, tenant_id, current)
        if row is None or row.merged_into is None:
            return current
        current = row.merged_into
    return current


async def _created(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    created = c.ProfileCreated.model_validate(data)
    row = await _profile(session, event.tenantid, created.profile_id)
    if row.own_first_seen_at is None or utc(event.time) <= utc(row.own_first_seen_at):
        row.own_first_seen_at, row.own_platform = utc(event.time), created.platform[:64]
    if row.first_seen_at is None or utc(event.time) <= utc(row.first_seen_at):
        row.first_seen_at, row.platform = utc(event.time), created.platform[:64]


async def _updated(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """A snapshot: lifecycle stage and lifetime value. An update naming `order_count` is an order (profiles
    announces each order this way, and only orders change that count): one order at the event's time."""
    updated = c.ProfileUpdated.model_validate(data)
    if not FOLDED_CHANGES.intersection(updated.changed):
        return  # a mention's counters, the sentiment trend: nothing metrics keeps (no write at all)
    tenant_id, snap = event.tenantid, updated.profile
    row = await _profile(session, tenant_id, updated.profile_id)
    if row.first_seen_at is None:
        row.first_seen_at = utc(event.time)
    if row.own_first_seen_at is None:
        row.own_first_seen_at = utc(event.time)
    if _newer(event.time, row.snapshot_at):
        row.lifetime_value, row.snapshot_at = dict(snap.lifetime_value), utc(event.time)
        if _newer(event.time, row.stage_at):
            row.lifecycle_stage, row.stage_at = snap.lifecycle_stage, utc(event.time)
    if "order_count" not in updated.changed:
        return
    await session.flush()
    owner = await survivor_of(session, tenant_id, updated.profile_id)
    order = {
        "tenant_id": tenant_id,
        "event_id": event.id,
        "origin_id": updated.profile_id,
        "owner_id": owner,
        "at": utc(event.time),
    }
    await _insert_new(session, OrderFact, [order])


async def _lifecycle(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    changed = c.LifecycleChanged.model_validate(data)
    row = await _profile(session, event.tenantid, changed.profile_id)
    if _newer(event.time, row.stage_at):
        row.lifecycle_stage, row.stage_at = changed.to_stage, utc(event.time)


async def _profile_merged(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """The merged profile counts as the survivor from now on: its orders move to the survivor, and the
    survivor was first seen when the earlier of the two was."""
    merged = c.ProfileMerged.model_validate(data)
    tenant_id = event.tenantid
    survivor = await _profile(session, tenant_id, merged.survivor_id)
    gone = await _profile(session, tenant_id, merged.merged_id)
    gone.merged_into, gone.merged_at = merged.survivor_id, utc(event.time)
    if gone.first_seen_at is not None and (
        survivor.first_seen_at is None or utc(gone.first_seen_at) < utc(survivor.first_seen_at)
    ):
        survivor.first_seen_at, survivor.platform = gone.first_seen_at, gone.platform
    await session.flush()
    await session.execute(
        update(OrderFact)
        .where(col(OrderFact.tenant_id) == tenant_id, col(OrderFact.owner_id) == merged.merged_id)
        .values(owner_id=merged.survivor_id)
    )


async def _merged_into(session: AsyncSession, tenant_id: str, profile_id: str) -> list[ProfileFact]:
    """The profile and every profile merged into it, directly or through earlier merges."""
    found: list[ProfileFact] = [await _profile(session, tenant_id, profile_id)]
    wanted = [profile_id]
    for _ in range(summaries.MAX_MERGE_HOPS):
        rows = (
            await session.execute(
                select(ProfileFact).where(
                    col(ProfileFact.tenant_id) == tenant_id, col(ProfileFact.merged_into).in_(wanted)
                )
            )
        ).scalars()
        more = [r for r in rows if all(r is not f for f in found)]
        if not more:
            break
        found.extend(more)
        wanted = [r.profile_id for r in more]
    return found


async def _first_seen_again(session: AsyncSession, tenant_id: str, profile_id: str) -> None:
    """The person's first sighting from the profiles that make them up now (after an unmerge)."""
    group = await _merged_into(session, tenant_id, profile_id)
    seen = [(utc(r.own_first_seen_at), r.own_platform) for r in group if r.own_first_seen_at is not None]
    if seen:
        row = group[0]
        row.first_seen_at, row.platform = min(seen, key=lambda s: s[0])


async def _profile_unmerged(session: AsyncSession, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """A merge undone: the restored profile counts as itself again, with its orders (and those of profiles
    merged into it), and each side's first sighting is its own again. Identifiers split off to a new
    profile (no merge undone) move no order and no sighting."""
    unmerged = c.ProfileUnmerged.model_validate(data)
    if unmerged.merge_id is None:
        return
    tenant_id = event.tenantid
    restored = await _profile(session, tenant_id, unmerged.restored_profile_id)
    if restored.merged_into != unmerged.profile_id:
        return  # not merged there (a duplicate, or the merge never reached metrics): nothing to undo
    restored.merged_into, restored.merged_at = None, None
    await session.flush()
    for profile_id in (unmerged.profile_id, unmerged.restored_profile_id):
        await _first_seen_again(session, tenant_id, profile_id)
    orders = (
        await session.execute(
            select(OrderFact).where(
                col(OrderFact.tenant_id) == tenant_id, col(OrderFact.owner_id) == unmerged.profile_id
            )
        )
    ).scalars()
    for order in list(orders):
        order.owner_id = await survivor_of(session, tenant_id, order.origin_id)


PROFILES: dict[str, Fold] = {
    "profiles.profile.created": _created,
    "profiles.profile.updated": _updated,
    "profiles.profile.lifecycle_changed": _lifecycle,
    "profiles.profile.merged": _profile_merged,
    "profiles.profile.unmerged": _profile_unmerged,
}


async def on_profiles(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new `profiles.profile.*` event, in order (a merge comes before the survivor's snapshot that
    adds the merged profile's orders, so those are moved, not counted again); erased profile ids already
    random."""
    events = await privacy.anonymised(session, events)
    wanted: dict[str, set[str]] = {}
    for event in events:
        extra = event.data.model_extra or {}
        if event.type not in PROFILES or (
            event.type == "profiles.profile.updated"
            and not FOLDED_CHANGES.intersection(extra.get("changed") or ())
        ):
            continue
        ids = {
            extra.get("profile_id"),
            extra.get("survivor_id"),
            extra.get("merged_id"),
            extra.get("restored_profile_id"),
        } - {None}
        wanted.setdefault(event.tenantid, set()).update(str(i) for i in ids)
    if not wanted:
        return
    await summaries.lock(session, "profiles", wanted)
    await _load(session, ProfileFact, "profile_id", wanted)
    # The customers the batch may change: the profiles it names and those they are merged into.
    customers = {t: await summaries.ancestors(session, t, ids) for t, ids in wanted.items()}
    before = await summaries.customers_now(session, customers)
    for event in events:
        fold = PROFILES.get(event.type)
        if fold is not None:
            try:
                await fold(session, event, event.data.model_dump())
            except ValidationError:
                log.warning(
                    "metrics.event_unreadable", extra={"event_id": event.id, "event_type": event.type}
                )
                raise
    await summaries.apply(session, (await summaries.customers_now(session, customers)).minus(before))
