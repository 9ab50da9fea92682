"""engagement's answer to privacy requests (`shared.privacy`): what it holds about a person, and erasure.

The person's records are their conversations (by profile id) with everything attached to them: the
messages (their posts and the brand's replies), agents' notes, the status history (who moved it, when;
assignments and SLA deadlines live on the conversation row itself), surveys and answers; the mention
projection rows (`seen_mention`, which keep the post's payload for corrections); and the partner webhook
deliveries that carried their data: those whose payload named one of their profiles, or any of their
conversations, messages, surveys or posts, or one of their identifiers (as a whole JSON string).

Erasure deletes all of it: no count engagement keeps needs a row of the person (metrics counted
conversations and answers from events already). The erased profile ids are remembered
(`erased_profile`): a resolution of one of their posts still in transit opens no conversation, and an
event naming them still in transit is delivered to no partner (until the stream scrub removes them).
The live inbox reads JetStream and keeps nothing; the privacy requests' stream scrub reaches it.

References: conversation, message, survey and delivery ids, and the ids of the person's posts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.logic.corrections import ERASURE_LOCK
from services.engagement.models import (
    Conversation,
    ConversationNote,
    ErasedProfile,
    Message,
    SeenMention,
    StatusChange,
    Survey,
    WebhookDelivery,
)
from shared.db import lock_tenant, utcnow
from shared.events.contracts import PrivacySubject
from shared.privacy import ErasureResult
from shared.tenancy import scoped

log = logging.getLogger("rapport.engagement.privacy")

# Webhook deliveries are read in pages of this many when looking for those that named the person.
DELIVERY_PAGE = 500


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _json(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


class Held:
    """The person's rows in engagement, read once for an export or an erasure."""

    def __init__(self) -> None:
        self.conversations: list[Conversation] = []
        self.messages: list[Message] = []
        self.notes: list[ConversationNote] = []
        self.status_changes: list[StatusChange] = []
        self.surveys: list[Survey] = []
        self.seen: list[SeenMention] = []
        self.deliveries: list[WebhookDelivery] = []

    @property
    def mention_ids(self) -> set[str]:
        found = {m.mention_id for m in self.messages if m.mention_id}
        found |= {s.mention_id for s in self.seen}
        found |= {s.answer_mention_id for s in self.surveys if s.answer_mention_id}
        found |= {c.first_mention_id for c in self.conversations}
        return found

    def references(self) -> list[str]:
        return sorted(
            {c.id for c in self.conversations}
            | {m.id for m in self.messages}
            | {s.id for s in self.surveys}
            | {d.id for d in self.deliveries}
            | self.mention_ids
        )


async def _rows(session: AsyncSession, model: Any, tenant_id: str, *where: Any) -> list[Any]:
    stmt = scoped(model, tenant_id).where(*where)
    return list((await session.execute(stmt)).scalars())


def _json_strings(values: Iterable[str]) -> list[bytes]:
    """How each value appears in a delivery's JSON body as a whole string (handles with and without `@`)."""
    found: set[bytes] = set()
    for value in values:
        if len(value.lstrip("@")) < 3:
            continue  # too short to name anyone: it would match unrelated payloads
        for form in (value, f"@{value.lstrip('@')}", value.lstrip("@")):
            found.add(json.dumps(form, ensure_ascii=False).encode())
    return sorted(found)


async def _deliveries(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject, ids: Iterable[str]
) -> list[WebhookDelivery]:
    """The tenant's deliveries whose payload named the person, read a page at a time (the log keeps
    `webhook_log_retention_days` of them)."""
    values = set(subject.profile_ids) | set(ids)
    for identity in subject.identities:
        for key in ("value", "platform_user_id"):
            if value := (identity.get(key) or "").strip():
                values.add(value)
    needles = _json_strings(values)
    if not needles:
        return []
    found: list[WebhookDelivery] = []
    after = ""
    while True:
        stmt = (
            scoped(WebhookDelivery, tenant_id)
            .where(col(WebhookDelivery.id) > after)
            .order_by(col(WebhookDelivery.id))
            .limit(DELIVERY_PAGE)
        )
        page = list((await session.execute(stmt)).scalars())
        if not page:
            return found
        for row in page:
            carried = set(_json(row.profile_ids) or [])
            if carried & set(subject.profile_ids) or any(n in row.body for n in needles):
                found.append(row)
        after = page[-1].id


async def held(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> Held:
    """Every row of the tenant that is about the person."""
    h = Held()
    profile_ids = sorted(set(subject.profile_ids))
    if profile_ids:
        h.conversations = await _rows(
            session, Conversation, tenant_id, col(Conversation.profile_id).in_(profile_ids)
        )
    conversation_ids = [c.id for c in h.conversations]
    if conversation_ids:
        h.messages = await _rows(
            session, Message, tenant_id, col(Message.conversation_id).in_(conversation_ids)
        )
        h.notes = await _rows(
            session, ConversationNote, tenant_id, col(ConversationNote.conversation_id).in_(conversation_ids)
        )
        h.status_changes = await _rows(
            session, StatusChange, tenant_id, col(StatusChange.conversation_id).in_(conversation_ids)
        )
    survey_where = []
    if profile_ids:
        survey_where.append(col(Survey.profile_id).in_(profile_ids))
    if conversation_ids:
        survey_where.append(col(Survey.conversation_id).in_(conversation_ids))
    if survey_where:
        h.surveys = await _rows(session, Survey, tenant_id, or_(*survey_where))
    mention_ids = sorted({m.mention_id for m in h.messages if m.mention_id})
    seen_where = []
    if profile_ids:
        seen_where.append(col(SeenMention.profile_id).in_(profile_ids))
    if mention_ids:
        seen_where.append(col(SeenMention.mention_id).in_(mention_ids))
    if seen_where:
        h.seen = await _rows(session, SeenMention, tenant_id, or_(*seen_where))
    ids = {*conversation_ids, *(m.id for m in h.messages), *(s.id for s in h.surveys), *h.mention_ids}
    h.deliveries = await _deliveries(session, tenant_id, subject, ids)
    return h


def _conversation(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "profile_id": c.profile_id,
        "status": c.status,
        "priority": c.priority,
        "platform": c.platform,
        "channel_id": c.channel_id,
        "language": c.language,
        "labels": _json(c.labels) or [],
        "assignee_id": c.assignee_id,
        "team_id": c.team_id,
        "customer_handle": c.customer_handle,
        "customer_display_name": c.customer_display_name,
        "customer_profile": _json(c.customer_profile),
        "first_mention_id": c.first_mention_id,
        "opened_at": _iso(c.opened_at),
        "first_response_at": _iso(c.first_response_at),
        "resolved_at": _iso(c.resolved_at),
        "created_at": _iso(c.created_at),
    }


def _message(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "direction": m.direction,
        "platform": m.platform,
        "kind": m.kind,
        "text": m.text,
        "mention_id": m.mention_id,
        "external_id": m.external_id,
        "author_id": m.author_id,
        "origin": m.origin,
        "status": m.status,
        "intent": m.intent,
        "sentiment": m.sentiment_label,
        "posted_at": _iso(m.posted_at),
        "sent_at": _iso(m.sent_at),
    }


def _survey(s: Survey) -> dict[str, Any]:
    return {
        "id": s.id,
        "conversation_id": s.conversation_id,
        "profile_id": s.profile_id,
        "kind": s.kind,
        "state": s.state,
        "question": s.question,
        "score": s.score,
        "comment": s.comment,
        "answered_via": s.answered_via,
        "answered_at": _iso(s.answered_at),
        "created_at": _iso(s.created_at),
    }


def _delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "subscription_id": d.subscription_id,
        "event_type": d.event_type,
        "status": d.status,
        "body": _json(d.body.decode("utf-8", "replace")),
        "created_at": _iso(d.created_at),
        "succeeded_at": _iso(d.succeeded_at),
    }


async def export_person(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject
) -> dict[str, list[dict[str, Any]]]:
    """Everything engagement holds about the person."""
    h = await held(session, tenant_id, subject)
    return {
        "conversations": [_conversation(c) for c in h.conversations],
        "messages": [_message(m) for m in h.messages],
        "notes": [
            {
                "id": n.id,
                "conversation_id": n.conversation_id,
                "author_id": n.author_id,
                "body": n.body,
                "created_at": _iso(n.created_at),
            }
            for n in h.notes
        ],
        "status_changes": [
            {
                "conversation_id": s.conversation_id,
                "from": s.from_status,
                "to": s.to_status,
                "cause": s.cause,
                "by_user_id": s.by_user_id,
                "at": _iso(s.created_at),
            }
            for s in h.status_changes
        ],
        "surveys": [_survey(s) for s in h.surveys],
        "seen_mentions": [
            {"mention_id": s.mention_id, "profile_id": s.profile_id, "payload": _json(s.payload)}
            for s in h.seen
        ],
        "webhook_deliveries": [_delivery(d) for d in h.deliveries],
    }


async def _delete(session: AsyncSession, model: Any, tenant_id: str, ids: list[str]) -> int:
    if not ids:
        return 0
    result = await session.execute(
        delete(model)
        .where(model.tenant_id == tenant_id, model.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def erase_person(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> ErasureResult:
    """Delete the person's conversations with all that hangs on them, their surveys, the mention
    projection rows and the webhook deliveries that carried their data. Routing batches that may keep
    the person's mentions finish first, and those after find them erased (`corrections.ERASURE_LOCK`)."""
    await lock_tenant(session, ERASURE_LOCK, tenant_id)
    h = await held(session, tenant_id, subject)
    references = h.references()
    counts = {
        "conversations": await _delete(session, Conversation, tenant_id, [c.id for c in h.conversations]),
        "messages": await _delete(session, Message, tenant_id, [m.id for m in h.messages]),
        "notes": await _delete(session, ConversationNote, tenant_id, [n.id for n in h.notes]),
        "status_changes": await _delete(session, StatusChange, tenant_id, [s.id for s in h.status_changes]),
        "surveys": await _delete(session, Survey, tenant_id, [s.id for s in h.surveys]),
        "seen_mentions": await _delete(session, SeenMention, tenant_id, [s.id for s in h.seen]),
        "webhook_deliveries": await _delete(
            session, WebhookDelivery, tenant_id, [d.id for d in h.deliveries]
        ),
    }
    await _remember_erased(session, tenant_id, subject.profile_ids)
    log.info("privacy.erased", extra={"tenant_id": tenant_id, "counts": counts})
    return ErasureResult(counts=counts, references=references)


async def _remember_erased(session: AsyncSession, tenant_id: str, profile_ids: Iterable[str]) -> None:
    """Record the erased profile ids, so events about them still in transit change nothing."""
    rows = [
        {"tenant_id": tenant_id, "profile_id": p, "erased_at": utcnow()} for p in sorted(set(profile_ids))
    ]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = ErasedProfile.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "profile_id"])
    )
