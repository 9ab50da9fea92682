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
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, null, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.metrics import privacy
from services.metrics.logic import rollups, summaries
from services.metrics.logic.rollups import utc
from services.metrics.logic.rows import Rows, by_tenant, named
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


def _data(event: Event[c.Contract]) -> dict[str, Any]:
    """An event's payload as a dict (a plain `Contract`, as the bus parses it, holds it as is)."""
    if type(event.data) is c.Contract and event.data.model_extra is not None:
        return event.data.model_extra
    return event.data.model_dump()


def _newer(at: datetime, last: datetime | None) -> bool:
    return last is None or utc(at) >= utc(last)


# --- listening ------------------------------------------------------------------------------------


@dataclass(slots=True)
class MentionState:
    """A mention as a listening batch folds it: its `mention_fact` row, read once before the batch (or
    made by it), changed in memory event by event and written once after; with its query matches and
    hashtags while it is live (what it adds to the counts, `rollups.contribution`)."""

    created_at: datetime
    platform: str
    channel_id: str | None
    language: str
    sentiment: str
    intent: str
    analysed_at: datetime
    removed_at: datetime | None = None
    matches: dict[str, str] = field(default_factory=dict)  # query id → kind
    tags: set[str] = field(default_factory=set)
    new: bool = False  # no row before the batch: inserted whole, as it ends
    changed: bool = False  # a row before the batch, its analysis or removal changed: updated
    retagged: bool = False  # its hashtags before the batch are deleted
    added_tags: set[str] = field(default_factory=set)  # hashtags to insert

    def relabel(self, analysis: c.Analysis, at: datetime) -> None:
        self.language = fold_language(analysis.language)[:16]
        self.sentiment = analysis.sentiment.label
        self.intent = analysis.intent
        self.analysed_at = utc(at)
        self.changed = True

    def retag(self, tags: Iterable[str]) -> None:
        self.tags, self.added_tags, self.retagged = set(tags), set(tags), True


@dataclass
class ListeningBatch:
    """What a listening batch folds into: its mentions (tenant, mention id) → state (None: no row), and
    the rows it adds."""

    mentions: dict[tuple[str, str], MentionState | None] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


_MENTION: Any = MentionFact.__table__  # type: ignore[attr-defined]
_PROFILE: Any = ProfileFact.__table__  # type: ignore[attr-defined]
_ORDER: Any = OrderFact.__table__  # type: ignore[attr-defined]
_MOVE_ORDER = (
    _ORDER.update()
    .where(_ORDER.c.tenant_id == bindparam("_t"), _ORDER.c.event_id == bindparam("_e"))
    .values(owner_id=bindparam("_owner"))
)
_MATCH: Any = MentionQueryFact.__table__  # type: ignore[attr-defined]
_HASHTAG: Any = MentionHashtagFact.__table__  # type: ignore[attr-defined]
_MENTION_KEY = (_MENTION.c.tenant_id == bindparam("t"), _MENTION.c.mention_id == bindparam("m"))
_RELABEL = (
    _MENTION.update()
    .where(*_MENTION_KEY)
    .values(
        language=bindparam("language"),
        sentiment=bindparam("sentiment"),
        intent=bindparam("intent"),
        analysed_at=bindparam("analysed_at"),
        removed_at=bindparam("removed_at"),
    )
)
_UNTAG = _HASHTAG.delete().where(
    _HASHTAG.c.tenant_id == bindparam("t"), _HASHTAG.c.mention_id == bindparam("m")
)


async def _read_mentions(session: AsyncSession, wanted: dict[str, set[str]], batch: ListeningBatch) -> None:
    """The batch's mentions as they are before it: their rows, and the live ones' matches and hashtags
    (two statements per tenant and chunk of ids)."""
    for tenant_id, ids in wanted.items():
        ordered = sorted(ids)
        for i in range(0, len(ordered), rollups.CHUNK):
            chunk = ordered[i : i + rollups.CHUNK]
            batch.mentions.update(((tenant_id, m), None) for m in chunk)
            found = await session.execute(
                select(
                    _MENTION.c.mention_id,
                    _MENTION.c.created_at,
                    _MENTION.c.platform,
                    _MENTION.c.channel_id,
                    _MENTION.c.language,
                    _MENTION.c.sentiment,
                    _MENTION.c.intent,
                    _MENTION.c.analysed_at,
                    _MENTION.c.removed_at,
                ).where(_MENTION.c.tenant_id == tenant_id, _MENTION.c.mention_id.in_(chunk))
            )
            live: dict[str, MentionState] = {}
            for mention_id, *values in found:
                state = batch.mentions[(tenant_id, mention_id)] = MentionState(*values)
                if state.removed_at is None:
                    live[mention_id] = state
            if not live:
                continue
            # Their matches (query id, kind) and hashtags (tag, None) in one statement.
            related = await session.execute(
                union_all(
                    select(_MATCH.c.mention_id, _MATCH.c.query_id, _MATCH.c.kind).where(
                        _MATCH.c.tenant_id == tenant_id, _MATCH.c.mention_id.in_(sorted(live))
                    ),
                    select(_HASHTAG.c.mention_id, _HASHTAG.c.tag, null()).where(
                        _HASHTAG.c.tenant_id == tenant_id, _HASHTAG.c.mention_id.in_(sorted(live))
                    ),
                )
            )
            for mention_id, value, kind in related:
                if kind is None:
                    live[mention_id].tags.add(value)
                else:
                    live[mention_id].matches[value] = kind


def add_mention(batch: ListeningBatch, tenant_id: str, m: c.MentionReceived) -> None:
    """listening.mention.received: the mention's row (a known one, tombstone or not, is left as it is),
    one row per listening query it matched and one per hashtag of its text (none for a post removed
    before this late or repeated `received`: it keeps no words of its text)."""
    key = (tenant_id, m.mention_id)
    state = batch.mentions.get(key)
    if state is None:
        state = batch.mentions[key] = MentionState(
            created_at=utc(m.created_at),
            platform=m.platform[:64],
            channel_id=m.channel_id,
            language=fold_language(m.analysis.language)[:16],
            sentiment=m.analysis.sentiment.label,
            intent=m.analysis.intent,
            analysed_at=utc(m.created_at),
            new=True,
        )
    kinds = {q.query_id: q.kind for q in m.matched_queries}
    for query_id in m.matched_query_ids:
        kinds.setdefault(query_id, "topic")
    for query_id, kind in sorted(kinds.items()):
        # A match already there keeps its kind (the insert leaves it alone).
        if query_id not in state.matches:
            state.matches[query_id] = kind
            batch.matches.append(
                {"tenant_id": tenant_id, "mention_id": m.mention_id, "query_id": query_id, "kind": kind}
            )
    if state.removed_at is None:
        tags = set(hashtags(m.text)) - state.tags
        state.tags |= tags
        state.added_tags |= tags


def reanalyse_mention(
    batch: ListeningBatch,
    tenant_id: str,
    mention_id: str,
    analysis: c.Analysis,
    at: datetime,
    text: str | None = None,
) -> None:
    """listening.mention.reanalysed / .edited: the mention takes its new labels (unless a newer one came),
    and an edit's `text` its hashtags."""
    state = batch.mentions.get((tenant_id, mention_id))
    if state is None or state.removed_at is not None or not _newer(at, state.analysed_at):
        return
    if text is not None:
        state.retag(hashtags(text))
    state.relabel(analysis, at)


def remove_mention(batch: ListeningBatch, tenant_id: str, redacted: c.MentionRedacted, at: datetime) -> None:
    """listening.mention.redacted: the post is gone, so it leaves every figure it was in, and its hashtags
    are deleted. Its row stays as a tombstone (written from this event if the mention was never seen),
    which a repeated or late `received` does not overwrite."""
    key = (tenant_id, redacted.mention_id)
    state = batch.mentions.get(key)
    if state is None:
        state = batch.mentions[key] = MentionState(
            created_at=utc(redacted.created_at),
            platform=redacted.platform[:64],
            channel_id=None,
            language=fold_language(redacted.analysis.language)[:16],
            sentiment=redacted.analysis.sentiment.label,
            intent=redacted.analysis.intent,
            analysed_at=utc(redacted.created_at),
            new=True,
        )
    if state.removed_at is None:
        state.removed_at, state.changed = utc(at), True
    # Its hashtags are words of its text: gone with it.
    state.retag(())


async def _write_mentions(session: AsyncSession, batch: ListeningBatch) -> None:
    """The batch's rows, a statement per kind of change."""
    inserted: list[dict[str, Any]] = []
    relabelled: list[dict[str, Any]] = []
    untagged: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for (tenant_id, mention_id), s in sorted(batch.mentions.items()):
        if s is None:
            continue
        if s.new:
            inserted.append(
                {
                    "tenant_id": tenant_id,
                    "mention_id": mention_id,
                    "created_at": s.created_at,
                    "platform": s.platform,
                    "channel_id": s.channel_id,
                    "language": s.language,
                    "sentiment": s.sentiment,
                    "intent": s.intent,
                    "analysed_at": s.analysed_at,
                    "removed_at": s.removed_at,
                }
            )
        else:
            if s.changed:
                relabelled.append(
                    {
                        "t": tenant_id,
                        "m": mention_id,
                        "language": s.language,
                        "sentiment": s.sentiment,
                        "intent": s.intent,
                        "analysed_at": s.analysed_at,
                        "removed_at": s.removed_at,
                    }
                )
            if s.retagged:
                untagged.append({"t": tenant_id, "m": mention_id})
        tags.extend(
            {"tenant_id": tenant_id, "mention_id": mention_id, "tag": tag} for tag in sorted(s.added_tags)
        )
    await _insert_new(session, MentionFact, inserted)
    if relabelled:
        await session.execute(_RELABEL, relabelled)
    if untagged:
        await session.execute(_UNTAG, untagged)
    await _insert_new(session, MentionQueryFact, batch.matches)
    await _insert_new(session, MentionHashtagFact, tags)
    await _insert_new(session, AlertFact, batch.alerts)


def _counted(batch: ListeningBatch, into: Counter[rollups.Key], sign: int) -> None:
    for (tenant_id, _), s in batch.mentions.items():
        if s is not None and s.removed_at is None:
            rollups.contribution(tenant_id, s, sorted(s.matches.items()), sorted(s.tags), into, sign)


async def on_listening(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new event of the listening stream, in order. The batch's mentions are read once, folded in
    memory and written once; the mentions' hourly and daily counts take what the batch changed (what they
    add after it less what they added before, `rollups`), in the same transaction."""
    wanted = rollups.touched(events)
    await rollups.lock(session, wanted)
    batch = ListeningBatch()
    await _read_mentions(session, wanted, batch)
    delta: Counter[rollups.Key] = Counter()
    _counted(batch, delta, -1)
    for event in events:
        data = _data(event)
        if event.type == "listening.mention.received":
            add_mention(batch, event.tenantid, c.MentionReceived.model_validate(data))
        elif event.type in ("listening.mention.reanalysed", "listening.mention.edited"):
            changed = c.MentionReanalysed.model_validate({"reason": "label", **data})
            text = data.get("text") if event.type == "listening.mention.edited" else None
            reanalyse_mention(batch, event.tenantid, changed.mention_id, changed.analysis, event.time, text)
        elif event.type == "listening.mention.redacted":
            remove_mention(batch, event.tenantid, c.MentionRedacted.model_validate(data), event.time)
        elif event.type == "listening.alert.raised":
            alert = c.AlertRaised.model_validate(data)
            batch.alerts.append(
                {
                    "tenant_id": event.tenantid,
                    "alert_id": alert.alert_id,
                    "query_id": alert.query_id,
                    "kind": alert.kind,
                    "bucket_start": utc(alert.bucket_start),
                }
            )
    _counted(batch, delta, 1)
    await _write_mentions(session, batch)
    await rollups.apply(session, delta)


# --- engagement -----------------------------------------------------------------------------------


@dataclass
class EngagementBatch:
    """What an engagement batch folds into: its conversations' rows (read once, written once) and the
    survey answers it adds."""

    conversations: Rows
    answers: list[dict[str, Any]] = field(default_factory=list)


def _conversation(batch: EngagementBatch, tenant_id: str, conversation_id: str) -> Any:
    return batch.conversations.get_or_add(tenant_id, conversation_id)


def _min(a: datetime | None, b: datetime) -> datetime:
    return utc(b) if a is None else min(utc(a), utc(b))


def _opened(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    opened = c.ConversationOpened.model_validate(data)
    row = _conversation(batch, event.tenantid, opened.conversation_id)
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


def _assigned(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    assigned = c.ConversationAssigned.model_validate(data)
    row = _conversation(batch, event.tenantid, assigned.conversation_id)
    if _newer(event.time, row.assigned_at):
        row.assignee_id, row.assigned_at = assigned.assignee_id, utc(event.time)
        row.team_id = assigned.team_id or row.team_id


def _move(row: Any, to_status: str, at: datetime, business_s: float | None = None) -> None:
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


def _status(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    changed = c.ConversationStatusChanged.model_validate(data)
    row = _conversation(batch, event.tenantid, changed.conversation_id)
    if changed.cause == "merged":
        return  # the merge event says where it went; a merged conversation is no resolution
    _move(row, changed.to_status, changed.changed_at, changed.business_seconds)


def _reopened(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    reopened = c.ConversationReopened.model_validate(data)
    row = _conversation(batch, event.tenantid, reopened.conversation_id)
    row.reopen_count = max(row.reopen_count, reopened.reopen_count)
    _move(row, "open", reopened.reopened_at)


def _first_responded(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    responded = c.ConversationFirstResponded.model_validate(data)
    row = _conversation(batch, event.tenantid, responded.conversation_id)
    if row.first_response_at is None or utc(responded.responded_at) < utc(row.first_response_at):
        row.first_response_at = utc(responded.responded_at)
        row.first_response_business_s = responded.business_seconds
    if row.opened_at is None:
        row.opened_at = utc(responded.opened_at)


def _merged(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    merged = c.ConversationMerged.model_validate(data)
    row = _conversation(batch, event.tenantid, merged.merged_id)
    row.merged_into = merged.conversation_id


def _sla(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    fired = c.SlaBreached.model_validate(data)  # a warning has the same fields
    row = _conversation(batch, event.tenantid, fired.conversation_id)
    breached = event.type == "engagement.sla.breached"
    if fired.target == "first_response":
        row.first_response_due_at = utc(fired.due_at)
        row.first_response_breached = row.first_response_breached or breached
    else:
        row.resolution_due_at = utc(fired.due_at)
        row.resolution_breached = row.resolution_breached or breached
    row.team_id = row.team_id or fired.team_id


def _survey(batch: EngagementBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
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
    batch.answers.append(row)


ENGAGEMENT: dict[str, Callable[[EngagementBatch, Event[c.Contract], dict[str, Any]], None]] = {
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


def _conversation_ids(event: Event[c.Contract]) -> set[str]:
    """The conversations an engagement event names (a survey answer: none)."""
    if event.type == "engagement.survey.answered":
        return set()
    return named(event, "conversation_id", "merged_id")


async def on_engagement(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new event of the engagement stream, in order (messages, replies and webhooks are skipped:
    the conversation events already say when it was answered); erased profile ids already random. The
    batch's conversations are read once, folded in memory and written once."""
    events = [event for event in events if event.type in ENGAGEMENT]
    if not events:
        return
    # The lock first: an erasure takes it too, so the erased ids read next are all of them (`privacy`).
    await summaries.lock(session, "engagement", {event.tenantid for event in events})
    events = await privacy.anonymised(session, events)
    wanted = by_tenant(events, _conversation_ids)
    answers = [
        (event.tenantid, c.SurveyAnswered.model_validate(_data(event)))
        for event in events
        if event.type == "engagement.survey.answered"
    ]
    batch = EngagementBatch(Rows(ConversationFact, "conversation_id"))
    await batch.conversations.read(session, wanted)
    # The day summaries take what the batch changed (`summaries`), in the same transaction.
    touched = [(t, i) for t, ids in wanted.items() for i in sorted(ids)]
    before = summaries.conversations_now((t, batch.conversations.get(t, i)) for t, i in touched)
    added = await summaries.new_answers(session, answers)
    for event in events:
        ENGAGEMENT[event.type](batch, event, _data(event))
    await batch.conversations.write(session)
    await _insert_new(session, SurveyFact, batch.answers)
    delta = summaries.conversations_now((t, batch.conversations.get(t, i)) for t, i in touched).minus(before)
    delta.update(added)
    await summaries.apply(session, delta)


# --- profiles -------------------------------------------------------------------------------------


@dataclass
class ProfilesBatch:
    """What a profiles batch folds into: its profiles' rows (read once, written once) and the orders it
    adds (inserted together, before anything reads or moves orders)."""

    session: AsyncSession
    profiles: Rows = field(default_factory=lambda: Rows(ProfileFact, "profile_id"))
    orders: list[dict[str, Any]] = field(default_factory=list)

    async def add_orders(self) -> None:
        await _insert_new(self.session, OrderFact, self.orders)
        self.orders = []


def _profile(batch: ProfilesBatch, tenant_id: str, profile_id: str) -> Any:
    return batch.profiles.get_or_add(tenant_id, profile_id)


async def survivor_of(batch: ProfilesBatch, tenant_id: str, profile_id: str) -> str:
    """The profile `profile_id` counts as now: itself, or the survivor of the merges it went into."""
    current = profile_id
    for _ in range(summaries.MAX_MERGE_HOPS):
        row = await batch.profiles.fetch(batch.session, tenant_id, current)
        if row is None or row.merged_into is None:
            return current
        current = row.merged_into
    return current


async def _created(batch: ProfilesBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    created = c.ProfileCreated.model_validate(data)
    row = _profile(batch, event.tenantid, created.profile_id)
    if row.own_first_seen_at is None or utc(event.time) <= utc(row.own_first_seen_at):
        row.own_first_seen_at, row.own_platform = utc(event.time), created.platform[:64]
    if row.first_seen_at is None or utc(event.time) <= utc(row.first_seen_at):
        row.first_seen_at, row.platform = utc(event.time), created.platform[:64]


async def _updated(batch: ProfilesBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """A snapshot: lifecycle stage and lifetime value. An update naming `order_count` is an order (profiles
    announces each order this way, and only orders change that count): one order at the event's time."""
    updated = c.ProfileUpdated.model_validate(data)  # one naming a folded change (`_profile_ids`)
    tenant_id, snap = event.tenantid, updated.profile
    row = _profile(batch, tenant_id, updated.profile_id)
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
    owner = await survivor_of(batch, tenant_id, updated.profile_id)
    order = {
        "tenant_id": tenant_id,
        "event_id": event.id,
        "origin_id": updated.profile_id,
        "owner_id": owner,
        "at": utc(event.time),
    }
    batch.orders.append(order)


async def _lifecycle(batch: ProfilesBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    changed = c.LifecycleChanged.model_validate(data)
    row = _profile(batch, event.tenantid, changed.profile_id)
    if _newer(event.time, row.stage_at):
        row.lifecycle_stage, row.stage_at = changed.to_stage, utc(event.time)


async def _profile_merged(batch: ProfilesBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """The merged profile counts as the survivor from now on: its orders move to the survivor, and the
    survivor was first seen when the earlier of the two was."""
    merged = c.ProfileMerged.model_validate(data)
    await batch.add_orders()  # the merged profile's orders move
    tenant_id = event.tenantid
    survivor = _profile(batch, tenant_id, merged.survivor_id)
    gone = _profile(batch, tenant_id, merged.merged_id)
    gone.merged_into, gone.merged_at = merged.survivor_id, utc(event.time)
    if gone.first_seen_at is not None and (
        survivor.first_seen_at is None or utc(gone.first_seen_at) < utc(survivor.first_seen_at)
    ):
        survivor.first_seen_at, survivor.platform = gone.first_seen_at, gone.platform
    await batch.session.execute(
        update(OrderFact)
        .where(col(OrderFact.tenant_id) == tenant_id, col(OrderFact.owner_id) == merged.merged_id)
        .values(owner_id=merged.survivor_id)
    )


async def _merged_into(batch: ProfilesBatch, tenant_id: str, profile_id: str) -> list[Any]:
    """The profile and every profile merged into it, directly or through earlier merges."""
    found: list[Any] = [_profile(batch, tenant_id, profile_id)]
    wanted = [profile_id]
    for _ in range(summaries.MAX_MERGE_HOPS):
        rows = await batch.profiles.where(batch.session, tenant_id, _PROFILE.c.merged_into.in_(wanted))
        more = [r for r in rows if all(r is not f for f in found)]
        if not more:
            break
        found.extend(more)
        wanted = [r.profile_id for r in more]
    return found


async def _first_seen_again(batch: ProfilesBatch, tenant_id: str, profile_id: str) -> None:
    """The person's first sighting from the profiles that make them up now (after an unmerge)."""
    group = await _merged_into(batch, tenant_id, profile_id)
    seen = [(utc(r.own_first_seen_at), r.own_platform) for r in group if r.own_first_seen_at is not None]
    if seen:
        row = group[0]
        row.first_seen_at, row.platform = min(seen, key=lambda s: s[0])


async def _profile_unmerged(batch: ProfilesBatch, event: Event[c.Contract], data: dict[str, Any]) -> None:
    """A merge undone: the restored profile counts as itself again, with its orders (and those of profiles
    merged into it), and each side's first sighting is its own again. Identifiers split off to a new
    profile (no merge undone) move no order and no sighting."""
    unmerged = c.ProfileUnmerged.model_validate(data)
    await batch.add_orders()  # the restored profile's orders move back
    if unmerged.merge_id is None:
        return
    tenant_id = event.tenantid
    restored = _profile(batch, tenant_id, unmerged.restored_profile_id)
    if restored.merged_into != unmerged.profile_id:
        return  # not merged there (a duplicate, or the merge never reached metrics): nothing to undo
    restored.merged_into, restored.merged_at = None, None
    for profile_id in (unmerged.profile_id, unmerged.restored_profile_id):
        await _first_seen_again(batch, tenant_id, profile_id)
    orders = await batch.session.execute(
        select(_ORDER.c.event_id, _ORDER.c.origin_id).where(
            _ORDER.c.tenant_id == tenant_id, _ORDER.c.owner_id == unmerged.profile_id
        )
    )
    moved = []
    for event_id, origin_id in list(orders):
        owner = await survivor_of(batch, tenant_id, origin_id)
        if owner != unmerged.profile_id:
            moved.append({"_t": tenant_id, "_e": event_id, "_owner": owner})
    if moved:
        await batch.session.execute(_MOVE_ORDER, moved)


Fold = Callable[[ProfilesBatch, Event[c.Contract], dict[str, Any]], Coroutine[Any, Any, None]]

PROFILES: dict[str, Fold] = {
    "profiles.profile.created": _created,
    "profiles.profile.updated": _updated,
    "profiles.profile.lifecycle_changed": _lifecycle,
    "profiles.profile.merged": _profile_merged,
    "profiles.profile.unmerged": _profile_unmerged,
}


def _profile_ids(event: Event[c.Contract]) -> set[str]:
    """The profiles a folded `profiles.profile.*` event names (none: an event metrics does not fold)."""
    if event.type not in PROFILES or (
        event.type == "profiles.profile.updated"
        and not FOLDED_CHANGES.intersection((event.data.model_extra or {}).get("changed") or ())
    ):
        return set()
    return named(event, "profile_id", "survivor_id", "merged_id", "restored_profile_id")


async def _with_ancestors(batch: ProfilesBatch, tenant_id: str, ids: set[str]) -> set[str]:
    """The profiles and every profile they were merged into, up their chains (their rows read)."""
    seen, level = set(ids), set(ids)
    for _ in range(summaries.MAX_MERGE_HOPS):
        await batch.profiles.read(batch.session, {tenant_id: level})
        parents = {row.merged_into for i in level if (row := batch.profiles.get(tenant_id, i)) is not None}
        level = {str(p) for p in parents if p is not None} - seen
        if not level:
            break
        seen |= level
    return seen


# Events after which the customers' merge trees and orders are read again (not kept in memory).
REGROUPING = frozenset({"profiles.profile.merged", "profiles.profile.unmerged"})


async def on_profiles(session: AsyncSession, events: Sequence[Event[c.Contract]]) -> None:
    """Every new `profiles.profile.*` event, in order (a merge comes before the survivor's snapshot that
    adds the merged profile's orders, so those are moved, not counted again); erased profile ids already
    random."""
    events = [event for event in events if _profile_ids(event)]
    if not events:
        return  # a mention's counters, the sentiment trend: nothing metrics keeps (no read, no write)
    # The lock first: an erasure takes it too, so the erased ids read next are all of them (`privacy`).
    await summaries.lock(session, "profiles", {event.tenantid for event in events})
    events = await privacy.anonymised(session, events)
    wanted = by_tenant(events, _profile_ids)
    batch = ProfilesBatch(session)
    # The customers the batch may change: the profiles it names and those they are merged into.
    customers = {t: await _with_ancestors(batch, t, ids) for t, ids in wanted.items()}
    read = await summaries.read_customers(session, customers, batch.profiles)
    before = read.tally(batch.profiles.get)
    for event in events:
        try:
            await PROFILES[event.type](batch, event, _data(event))
        except ValidationError:
            log.warning("metrics.event_unreadable", extra={"event_id": event.id, "event_type": event.type})
            raise
    await batch.add_orders()
    if any(event.type in REGROUPING or _orders(event) for event in events):
        # Merge trees and orders changed: read again (the rows are the batch's).
        read = await summaries.read_customers(session, customers, batch.profiles)
    await batch.profiles.write(session)
    await summaries.apply(session, read.tally(batch.profiles.get).minus(before))


def _orders(event: Event[c.Contract]) -> bool:
    """An update that is an order (`_updated`)."""
    return event.type == "profiles.profile.updated" and "order_count" in (
        (event.data.model_extra or {}).get("changed") or ()
    )
