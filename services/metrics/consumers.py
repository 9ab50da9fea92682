"""metrics' event handlers: every event adds to the counters of its tenant and day, exactly once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.logic import counters
from shared.events.contracts import (
    ConversationAssigned,
    ConversationOpened,
    MentionEdited,
    MentionReanalysed,
    MentionReceived,
    MentionRedacted,
    ProfileCreated,
)
from shared.events.envelope import CloudEvent
from shared.service import Subscription


async def on_mention_received(session: AsyncSession, event: CloudEvent) -> None:
    """listening.mention.received → mentions by sentiment, language, intent and platform."""
    await counters.count_mention(
        session, tenant_id=event.tenantid, mention=MentionReceived.model_validate(event.data)
    )


async def on_analysis_changed(session: AsyncSession, event: CloudEvent) -> None:
    """listening.mention.reanalysed / .edited → move the mention's counts to its new analysis."""
    contract = MentionEdited if event.type == "listening.mention.edited" else MentionReanalysed
    data = contract.model_validate(event.data)
    await counters.move_mention(
        session,
        tenant_id=event.tenantid,
        created_at=data.created_at,
        previous=data.previous,
        analysis=data.analysis,
    )


async def on_mention_redacted(session: AsyncSession, event: CloudEvent) -> None:
    """listening.mention.redacted → the mention leaves every count it was in."""
    data = MentionRedacted.model_validate(event.data)
    await counters.uncount_mention(
        session,
        tenant_id=event.tenantid,
        created_at=data.created_at,
        platform=data.platform,
        analysis=data.analysis,
    )


async def on_profile_created(session: AsyncSession, event: CloudEvent) -> None:
    """profiles.profile.created → profiles created (on the event's own day)."""
    ProfileCreated.model_validate(event.data)
    await counters.count_profile_created(session, tenant_id=event.tenantid, created_at=event.time)


async def on_conversation_opened(session: AsyncSession, event: CloudEvent) -> None:
    """engagement.conversation.opened → conversations opened (on the day it opened)."""
    await counters.count_conversation_opened(
        session, tenant_id=event.tenantid, opened=ConversationOpened.model_validate(event.data)
    )


async def on_conversation_assigned(session: AsyncSession, event: CloudEvent) -> None:
    """engagement.conversation.assigned → assignments (on the event's own day)."""
    ConversationAssigned.model_validate(event.data)
    await counters.count_conversation_assigned(session, tenant_id=event.tenantid, assigned_at=event.time)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        durable="metrics-mentions", event_type="listening.mention.received", handler=on_mention_received
    ),
    Subscription(
        durable="metrics-reanalysed",
        event_type="listening.mention.reanalysed",
        handler=on_analysis_changed,
    ),
    Subscription(durable="metrics-edits", event_type="listening.mention.edited", handler=on_analysis_changed),
    Subscription(
        durable="metrics-redactions", event_type="listening.mention.redacted", handler=on_mention_redacted
    ),
    Subscription(
        durable="metrics-profiles", event_type="profiles.profile.created", handler=on_profile_created
    ),
    Subscription(
        durable="metrics-conversations",
        event_type="engagement.conversation.opened",
        handler=on_conversation_opened,
    ),
    Subscription(
        durable="metrics-assignments",
        event_type="engagement.conversation.assigned",
        handler=on_conversation_assigned,
    ),
]
