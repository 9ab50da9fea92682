"""Conversations: opened or continued by actionable mentions, read by staff."""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import ConversationNotFound
from services.engagement.logic.agents import ASSIGNMENT_LOCK, SOURCE, assign, next_agent
from services.engagement.logic.routing import PRIORITIES, is_actionable, priority_for
from services.engagement.models import Conversation, Message, Priority, Status
from services.engagement.schemas import ConversationDetail, ConversationPage, ConversationRead
from shared.db import lock_tenant, utcnow
from shared.events.contracts import ConversationOpened, MentionPayload, MentionResolved
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_row_scoped, scoped

log = logging.getLogger("rapport.engagement.conversations")


async def receive_mention(
    session: AsyncSession, *, tenant_id: str, resolved: MentionResolved
) -> Message | None:
    """Put an actionable mention into its profile's open conversation, opening one if needed."""
    mention = resolved.mention
    if not is_actionable(mention):
        return None
    existing = (
        (
            await session.execute(
                scoped(Message, tenant_id).where(col(Message.mention_id) == mention.mention_id)
            )
        )
        .scalars()
        .first()
    )
    if existing is not None:
        return existing
    conversation = (
        (
            await session.execute(
                scoped(Conversation, tenant_id).where(
                    col(Conversation.profile_id) == resolved.profile_id, col(Conversation.status) == "open"
                )
            )
        )
        .scalars()
        .first()
    )
    if conversation is None:
        conversation = await _open(
            session, tenant_id=tenant_id, profile_id=resolved.profile_id, mention=mention
        )
    else:
        # A later, more urgent post raises the thread's priority; it never lowers it.
        priority = priority_for(mention)
        if PRIORITIES.index(priority) > PRIORITIES.index(conversation.priority):
            conversation.priority = priority
        conversation.updated_at = utcnow()
        session.add(conversation)
    message = Message(
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        mention_id=mention.mention_id,
        direction="inbound",
        platform=mention.platform,
        text=mention.text,
        intent=mention.analysis.intent,
        sentiment_label=mention.analysis.sentiment.label,
        posted_at=mention.created_at,
    )
    session.add(message)
    await session.flush()
    log.info(
        "message.added",
        extra={
            "tenant_id": tenant_id,
            "conversation_id": conversation.id,
            "message_id": message.id,
            "mention_id": mention.mention_id,
        },
    )
    return message


async def _open(
    session: AsyncSession, *, tenant_id: str, profile_id: str, mention: MentionPayload
) -> Conversation:
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)  # against an agent projected meanwhile
    now = utcnow()
    conversation = Conversation(
        tenant_id=tenant_id,
        profile_id=profile_id,
        status="open",
        priority=priority_for(mention),
        first_mention_id=mention.mention_id,
        opened_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    # Flush now so a replica that opened the same profile's conversation first fails this transaction
    # (unique open-conversation index); the redelivery then appends to that one.
    await session.flush()
    agent = await next_agent(session, tenant_id=tenant_id)
    stage(
        session,
        new_event(
            ConversationOpened(
                conversation_id=conversation.id,
                profile_id=profile_id,
                mention_id=mention.mention_id,
                priority=conversation.priority,
                assignee_id=agent.id if agent else None,
                opened_at=now,
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=conversation.id,
        ),
    )
    log.info(
        "conversation.opened",
        extra={"tenant_id": tenant_id, "conversation_id": conversation.id, "priority": conversation.priority},
    )
    if agent is not None:
        assign(session, conversation=conversation, agent=agent, now=now)
    return conversation


# A conversation's messages in posting order (`tenant_id`, `conversation_id`): built once, Core rows.
# By the conversation's id alone, the conversation having been found in the tenant first: with a tenant
# condition too, SQLite (no statistics) may look the messages up by the tenant's index and read every
# message of the tenant for one conversation.
_MESSAGES = (
    select(Message.__table__)  # type: ignore[attr-defined]
    .where(col(Message.conversation_id) == bindparam("conversation_id"))
    .order_by(col(Message.posted_at).asc(), col(Message.created_at).asc(), col(Message.id).asc())
)


async def list_conversations(
    reader: Reader,
    *,
    tenant_id: str,
    status: Status | None,
    priority: Priority | None,
    assignee_id: str | None,
    profile_id: str | None,
    limit: int,
    cursor: str | None,
) -> ConversationPage:
    """The tenant's conversations, newest first, optionally filtered."""
    rows, next_cursor = await page_of(
        reader,
        Conversation,
        shape=ConversationRead,
        tenant_id=tenant_id,
        limit=limit,
        cursor=cursor,
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        profile_id=profile_id,
    )
    return ConversationPage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def get_conversation(reader: Reader, *, tenant_id: str, conversation_id: str) -> ConversationDetail:
    """One conversation of the tenant with its messages in posting order."""
    conversation = await get_row_scoped(
        reader,
        Conversation,
        tenant_id=tenant_id,
        id=conversation_id,
        error=ConversationNotFound,
        shape=ConversationRead,
    )
    messages = await reader.all(_MESSAGES, {"conversation_id": conversation.id})
    return ConversationDetail.model_validate(
        {**conversation._mapping, "messages": messages}, from_attributes=True
    )
