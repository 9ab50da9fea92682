"""Merging two conversations of one customer (the same thread told twice, a duplicate opened by hand).

The other conversation's messages and notes move into the target; the other is closed with the cause
`merged` (its status history stays with it) and points at the target (`merged_into_id`: a later post in
the other's thread goes on in the target); the target takes the higher priority, the latest message
and, when it had none, the other's agent. When only the other was in progress, the target opens again
(the customer's work is still to do) — the other is closed first; when the customer has another
conversation in progress on the target's thread, the merge is refused (merge into that one instead),
so the one-in-progress-per-customer-and-thread index holds throughout.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import ConversationNotFound, InvalidConversationUpdate, MergeConflict
from services.engagement.logic.assignment import ASSIGNMENT_LOCK, drain_queue
from services.engagement.logic.conversations import in_progress, move_status
from services.engagement.logic.routing import PRIORITIES
from services.engagement.models import ACTIVE_STATUSES, Conversation, ConversationNote, Message, StatusChange
from services.engagement.schemas import ConversationRead
from shared.db import begin_immediate, lock_tenant, utcnow
from shared.events.contracts import ConversationMerged
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import get_scoped

log = logging.getLogger("rapport.engagement.merging")

SOURCE = "engagement"


async def merge_conversations(
    session: AsyncSession, *, tenant_id: str, target_id: str, other_id: str, by_user_id: str
) -> ConversationRead:
    """Merge conversation `other_id` into `target_id` (same tenant, same customer); commits."""
    now = utcnow()
    await begin_immediate(session)
    target = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=target_id, error=ConversationNotFound
    )
    other = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=other_id, error=ConversationNotFound
    )
    if target.id == other.id:
        raise InvalidConversationUpdate("A conversation is not merged into itself.")
    if target.profile_id != other.profile_id:
        raise MergeConflict("Only conversations of the same customer (profile) are merged.")
    if other.status == "closed" and await _merged_already(session, other):
        raise MergeConflict(f"Conversation {other.id} was merged already.")
    other_in_progress = other.status in ACTIVE_STATUSES
    if other_in_progress and target.status not in ACTIVE_STATUSES:
        busy = await in_progress(
            session, tenant_id=tenant_id, profile_id=target.profile_id, thread_key=target.thread_key
        )
        if busy is not None and busy.id != other.id:
            raise MergeConflict(
                f"The customer has conversation {busy.id} in progress on this conversation's thread: "
                "merge into that one."
            )
    await lock_tenant(session, ASSIGNMENT_LOCK, tenant_id)
    moved_rows = await session.execute(
        update(Message)
        .where(col(Message.tenant_id) == tenant_id, col(Message.conversation_id) == other.id)
        .values(conversation_id=target.id)
    )
    moved: int = getattr(moved_rows, "rowcount", 0) or 0
    await session.execute(
        update(ConversationNote)
        .where(
            col(ConversationNote.tenant_id) == tenant_id, col(ConversationNote.conversation_id) == other.id
        )
        .values(conversation_id=target.id)
    )
    if PRIORITIES.index(other.priority) > PRIORITIES.index(target.priority):
        target.priority, target.priority_reason = other.priority, other.priority_reason
    if other.last_message_at is not None and (
        target.last_message_at is None or other.last_message_at > target.last_message_at
    ):
        target.last_message_at, target.last_message_excerpt = (
            other.last_message_at,
            other.last_message_excerpt,
        )
    if other_in_progress and target.status not in ACTIVE_STATUSES:
        # The work in progress moves: whoever held the other holds the target (none: the queue).
        target.assignee_id = other.assignee_id
    elif target.assignee_id is None:
        target.assignee_id = other.assignee_id
    target.team_id = target.team_id or other.team_id
    other.merged_into_id = target.id
    if other.status != "closed":
        move_status(session, conversation=other, to="closed", cause="merged", by_user_id=by_user_id, now=now)
    await session.flush()
    if other_in_progress and target.status not in ACTIVE_STATUSES:
        move_status(session, conversation=target, to="open", cause="merged", by_user_id=by_user_id, now=now)
    target.updated_at = now
    session.add(target)
    stage(
        session,
        new_event(
            ConversationMerged(
                conversation_id=target.id,
                merged_id=other.id,
                profile_id=target.profile_id,
                messages_moved=moved,
                by_user_id=by_user_id,
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=target.id,
        ),
    )
    await session.flush()
    await drain_queue(session, tenant_id=tenant_id, now=now)
    await session.commit()
    log.info(
        "conversation.merged",
        extra={"tenant_id": tenant_id, "conversation_id": target.id, "merged_id": other.id},
    )
    return ConversationRead.model_validate(target, from_attributes=True)


async def _merged_already(session: AsyncSession, conversation: Conversation) -> bool:
    stmt = select(col(StatusChange.id)).where(
        col(StatusChange.conversation_id) == conversation.id,
        col(StatusChange.cause) == "merged",
        col(StatusChange.to_status) == "closed",
    )
    return (await session.execute(stmt.limit(1))).first() is not None
