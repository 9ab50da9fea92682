"""Corrections from listening: a re-analysed mention may need a conversation; a redacted one loses text."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.logic.conversations import DEFAULT_REOPEN_WINDOW, receive_mention
from services.engagement.models import Conversation, ErasedProfile, Message, SeenMention, new_id
from shared.db import utcnow
from shared.events.contracts import (
    Analysis,
    MentionPayload,
    MentionReanalysed,
    MentionRedacted,
    MentionResolved,
)
from shared.tenancy import scoped

log = logging.getLogger("rapport.engagement.corrections")

REDACTED = ""  # what a redacted post's text becomes (MessageRead.redacted says why it is empty)


async def _seen(session: AsyncSession, *, tenant_id: str, mention_id: str) -> SeenMention | None:
    stmt = scoped(SeenMention, tenant_id).where(col(SeenMention.mention_id) == mention_id)
    return (await session.execute(stmt)).scalars().first()


@functools.cache
def _remember(dialect: str) -> Any:
    """INSERT the projection row, or UPDATE its profile and payload, RETURNING the corrections it holds;
    unless the profile was erased (`erased_profile`): then nothing is written and no row comes back. The
    erasure's check rides in the upsert, so a resolution costs one statement either way."""
    table = SeenMention.__table__  # type: ignore[attr-defined]
    gone = ErasedProfile.__table__  # type: ignore[attr-defined]
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    columns = ("id", "tenant_id", "mention_id", "profile_id", "payload", "updated_at")
    values = select(*(bindparam(name, type_=table.c[name].type) for name in columns)).where(
        ~exists().where(
            gone.c.tenant_id == bindparam("tenant_id", type_=table.c.tenant_id.type),
            gone.c.profile_id == bindparam("profile_id", type_=table.c.profile_id.type),
        )
    )
    stmt = insert.from_select(list(columns), values)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.mention_id],
        set_={name: stmt.excluded[name] for name in ("profile_id", "payload", "updated_at")},
    ).returning(table.c.analysis, table.c.redacted)


async def _message(session: AsyncSession, *, tenant_id: str, mention_id: str) -> Message | None:
    stmt = scoped(Message, tenant_id).where(col(Message.mention_id) == mention_id)
    return (await session.execute(stmt)).scalars().first()


async def resolve_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: MentionResolved,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Message | None:
    """profiles.mention.resolved: remember the mention's profile, then route it (newest analysis wins).

    One statement for the common case: an upsert of the projection row that returns any correction
    (an analysis, a redaction) that overtook the resolution; only then is the stored payload rewritten.
    """
    mention = resolved.mention
    dialect = session.get_bind().dialect.name
    params = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "mention_id": mention.mention_id,
        "profile_id": resolved.profile_id,
        "payload": mention.model_dump_json(),
        "updated_at": utcnow(),
    }
    remembered = (await session.execute(_remember(dialect), params)).first()
    if remembered is None:
        # A resolution still in transit when the person was erased: nothing of it is kept.
        log.info("mention.person_erased", extra={"mention_id": mention.mention_id, "tenant_id": tenant_id})
        return None
    analysis, redacted = remembered
    if redacted or analysis is not None:
        if redacted:
            mention = mention.model_copy(update={"text": REDACTED})
        if analysis is not None:  # a correction overtook the resolution
            mention = mention.model_copy(update={"analysis": Analysis.model_validate_json(analysis)})
        seen = await _seen(session, tenant_id=tenant_id, mention_id=mention.mention_id)
        if seen is not None:
            seen.payload = mention.model_dump_json()
            session.add(seen)
    return await receive_mention(
        session,
        tenant_id=tenant_id,
        resolved=resolved.model_copy(update={"mention": mention}),
        reopen_window=reopen_window,
    )


async def reanalyse_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    reanalysed: MentionReanalysed,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Message | None:
    """listening.mention.reanalysed: keep message labels current; route it if it became actionable."""
    seen = await _seen(session, tenant_id=tenant_id, mention_id=reanalysed.mention_id)
    if seen is None:
        seen = SeenMention(tenant_id=tenant_id, mention_id=reanalysed.mention_id)
    seen.analysis = reanalysed.analysis.model_dump_json()
    seen.updated_at = utcnow()
    session.add(seen)
    message = await _message(session, tenant_id=tenant_id, mention_id=reanalysed.mention_id)
    if message is not None:
        # Already in a conversation: it stays there; its labels follow the correction.
        message.intent = reanalysed.analysis.intent
        message.sentiment_label = reanalysed.analysis.sentiment.label
        session.add(message)
        return message
    if seen.profile_id is None or seen.payload is None:
        return None  # not resolved yet: the resolution will route it with this analysis
    mention = MentionPayload.model_validate_json(seen.payload).model_copy(
        update={"analysis": reanalysed.analysis}
    )
    seen.payload = mention.model_dump_json()
    routed = await receive_mention(
        session,
        tenant_id=tenant_id,
        resolved=MentionResolved(profile_id=seen.profile_id, mention=mention),
        reopen_window=reopen_window,
    )
    if routed is not None:
        log.info("mention.rerouted", extra={"mention_id": mention.mention_id, "message_id": routed.id})
    return routed


async def _redact_excerpt(session: AsyncSession, *, tenant_id: str, message: Message) -> None:
    """The inbox row shows the latest message's excerpt: it goes too when that message is redacted."""
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is None or conversation.tenant_id != tenant_id:
        return
    if conversation.last_message_at is not None and message.posted_at >= conversation.last_message_at:
        conversation.last_message_excerpt = REDACTED
        session.add(conversation)


async def redact_mention(session: AsyncSession, *, tenant_id: str, redacted: MentionRedacted) -> None:
    """listening.mention.redacted: the post's text is removed from its message and the projection."""
    message = await _message(session, tenant_id=tenant_id, mention_id=redacted.mention_id)
    if message is not None:
        message.text = REDACTED
        message.redacted = True
        session.add(message)
        await _redact_excerpt(session, tenant_id=tenant_id, message=message)
    seen = await _seen(session, tenant_id=tenant_id, mention_id=redacted.mention_id)
    if seen is None:
        seen = SeenMention(tenant_id=tenant_id, mention_id=redacted.mention_id)
    seen.redacted = True
    if seen.payload is not None:
        seen.payload = (
            MentionPayload.model_validate_json(seen.payload)
            .model_copy(update={"text": REDACTED})
            .model_dump_json()
        )
    seen.updated_at = utcnow()
    session.add(seen)
    log.info("message.redacted", extra={"mention_id": redacted.mention_id, "found": message is not None})
