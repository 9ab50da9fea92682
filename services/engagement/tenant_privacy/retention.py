"""Retention in engagement: a tenant's messages older than its period go, then what they leave behind.

A message's age is its post's time (`posted_at`: the customer's post, or when the brand's went out). The
steps, each in bounded batches (`shared.retention`):
- `messages`: the messages posted before the cutoff, with the mention projection rows (`seen_mention`)
  of the posts they were;
- `seen`: projection rows of posts that never became a message, untouched for the period;
- `conversations`: a finished conversation (resolved or closed) left without any message is deleted with
  its notes, status history and surveys (their comments are the customer's words). No empty shell is
  kept: metrics counted the conversation from its events, and its aggregates (anonymous counts) stay;
- `excerpts`: a conversation still in progress keeps its row (agents are working it) but its inbox
  excerpt, the text of a message now gone, is cleared.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.engagement.models import (
    Conversation,
    ConversationNote,
    Message,
    SeenMention,
    StatusChange,
    Survey,
)
from services.engagement.settings import EngagementSettings
from services.engagement.tenant_privacy.models import TenantPrivacy
from shared.events.contracts import PrivacyPolicyChanged
from shared.retention import RetentionJob, Step, apply_policy

FINISHED = ("resolved", "closed")


async def delete_messages(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """The tenant's oldest messages posted before `cutoff`, at most `batch`, and their posts' projection."""
    rows = (
        await session.execute(
            select(col(Message.id), col(Message.mention_id))
            .where(col(Message.tenant_id) == tenant_id, col(Message.posted_at) < cutoff)
            .order_by(col(Message.posted_at))
            .limit(batch)
        )
    ).all()
    if not rows:
        return 0
    mention_ids = [mention_id for _, mention_id in rows if mention_id is not None]
    if mention_ids:
        await session.execute(
            delete(SeenMention).where(
                col(SeenMention.tenant_id) == tenant_id, col(SeenMention.mention_id).in_(mention_ids)
            )
        )
    await session.execute(delete(Message).where(col(Message.id).in_([row_id for row_id, _ in rows])))
    return len(rows)


async def delete_seen(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """The tenant's mention projection rows untouched since before `cutoff`, at most `batch`."""
    ids = list(
        (
            await session.execute(
                select(col(SeenMention.id))
                .where(col(SeenMention.tenant_id) == tenant_id, col(SeenMention.updated_at) < cutoff)
                .limit(batch)
            )
        ).scalars()
    )
    if ids:
        await session.execute(delete(SeenMention).where(col(SeenMention.id).in_(ids)))
    return len(ids)


_NO_MESSAGE = ~exists().where(col(Message.conversation_id) == col(Conversation.id))


async def delete_conversations(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """The tenant's finished conversations whose last message was before `cutoff` and that have no message
    left, at most `batch`, with their notes, status history and surveys."""
    ids = list(
        (
            await session.execute(
                select(col(Conversation.id))
                .where(
                    col(Conversation.tenant_id) == tenant_id,
                    col(Conversation.status).in_(FINISHED),
                    or_(
                        col(Conversation.last_message_at).is_(None),
                        col(Conversation.last_message_at) < cutoff,
                    ),
                    _NO_MESSAGE,
                )
                .limit(batch)
            )
        ).scalars()
    )
    if not ids:
        return 0
    for table in (ConversationNote, StatusChange, Survey):
        await session.execute(
            delete(table).where(col(table.tenant_id) == tenant_id, col(table.conversation_id).in_(ids))
        )
    await session.execute(delete(Conversation).where(col(Conversation.id).in_(ids)))
    return len(ids)


async def clear_excerpts(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """Conversations whose last message was before `cutoff` (so is gone) lose its inbox excerpt."""
    ids = list(
        (
            await session.execute(
                select(col(Conversation.id))
                .where(
                    col(Conversation.tenant_id) == tenant_id,
                    col(Conversation.last_message_at) < cutoff,
                    col(Conversation.last_message_excerpt).is_not(None),
                )
                .limit(batch)
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(Conversation)
            .where(col(Conversation.id).in_(ids))
            .values(last_message_excerpt=None)
            .execution_options(synchronize_session=False)
        )
    return len(ids)


STEPS = (
    Step("messages", delete_messages),
    Step("seen", delete_seen),
    Step("conversations", delete_conversations),
    Step("excerpts", clear_excerpts),
)


def retention_job(sessions: async_sessionmaker[AsyncSession], settings: EngagementSettings) -> RetentionJob:
    """engagement's retention job, on the settings' interval and batch size."""
    return RetentionJob(
        sessions,
        model=TenantPrivacy,
        steps=STEPS,
        interval_s=settings.retention_interval_s,
        batch=settings.retention_batch,
    )


async def on_policy_changed(session: AsyncSession, *, tenant_id: str, policy: PrivacyPolicyChanged) -> None:
    """privacy.policy.changed → the tenant's retention period (swept at once when it has one)."""
    await apply_policy(session, TenantPrivacy, tenant_id=tenant_id, policy=policy)
