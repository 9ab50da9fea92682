"""metrics' event handlers: every event adds to the counters of its tenant and day, exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.logic import counters, surveys
from services.metrics.privacy import erase_person, export_person
from shared.events.contracts import (
    ConversationAssigned,
    ConversationOpened,
    MentionEdited,
    MentionReanalysed,
    MentionReceived,
    MentionRedacted,
    ProfileCreated,
    SurveyAnswered,
)
from shared.events.envelope import Event
from shared.privacy import privacy_subscriptions
from shared.service import Subscription


async def on_mention_received(session: AsyncSession, event: Event[MentionReceived]) -> None:
    """listening.mention.received → mentions by sentiment, language, intent and platform."""
    await counters.count_mention(session, tenant_id=event.tenantid, mention=event.data)


async def on_analysis_changed(session: AsyncSession, event: Event[MentionReanalysed | MentionEdited]) -> None:
    """listening.mention.reanalysed / .edited → move the mention's counts to its new analysis."""
    await counters.move_mention(
        session,
        tenant_id=event.tenantid,
        created_at=event.data.created_at,
        previous=event.data.previous,
        analysis=event.data.analysis,
    )


async def on_mention_redacted(session: AsyncSession, event: Event[MentionRedacted]) -> None:
    """listening.mention.redacted → the mention leaves every count it was in."""
    await counters.uncount_mention(
        session,
        tenant_id=event.tenantid,
        created_at=event.data.created_at,
        platform=event.data.platform,
        analysis=event.data.analysis,
    )


async def on_profile_created(session: AsyncSession, event: Event[ProfileCreated]) -> None:
    """profiles.profile.created → profiles created (on the event's own day)."""
    await counters.count_profile_created(session, tenant_id=event.tenantid, created_at=event.time)


async def on_conversation_opened(session: AsyncSession, event: Event[ConversationOpened]) -> None:
    """engagement.conversation.opened → conversations opened (on the day it opened)."""
    await counters.count_conversation_opened(session, tenant_id=event.tenantid, opened=event.data)


async def on_conversation_assigned(session: AsyncSession, event: Event[ConversationAssigned]) -> None:
    """engagement.conversation.assigned → assignments (on the event's own day)."""
    await counters.count_conversation_assigned(session, tenant_id=event.tenantid, assigned_at=event.time)


async def on_survey_answered(session: AsyncSession, event: Event[SurveyAnswered]) -> None:
    """engagement.survey.answered → survey answers by kind and score (on the day of the answer)."""
    await surveys.count_answer(session, tenant_id=event.tenantid, answered=event.data)


SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(durable="metrics-mentions", event=MentionReceived, handler=on_mention_received),
    Subscription(durable="metrics-reanalysed", event=MentionReanalysed, handler=on_analysis_changed),
    Subscription(durable="metrics-edits", event=MentionEdited, handler=on_analysis_changed),
    Subscription(durable="metrics-redactions", event=MentionRedacted, handler=on_mention_redacted),
    Subscription(durable="metrics-profiles", event=ProfileCreated, handler=on_profile_created),
    Subscription(durable="metrics-conversations", event=ConversationOpened, handler=on_conversation_opened),
    Subscription(durable="metrics-assignments", event=ConversationAssigned, handler=on_conversation_assigned),
    Subscription(durable="metrics-surveys", event=SurveyAnswered, handler=on_survey_answered),
    # privacy.export.requested / privacy.erasure.requested: metrics answers that it holds nobody.
    *privacy_subscriptions("metrics", export_person=export_person, erase_person=erase_person),
]
