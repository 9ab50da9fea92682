"""profiles' event subscriptions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.resolution import redact_interaction, resolve_mention
from shared.events.contracts import MentionPayload, MentionRedacted
from shared.events.envelope import CloudEvent
from shared.service import Subscription


async def on_mention_received(session: AsyncSession, event: CloudEvent) -> None:
    """`listening.mention.received` → resolve the author to a profile and extend the timeline."""
    mention = MentionPayload.model_validate(event.data)
    await resolve_mention(session, tenant_id=event.tenantid, mention=mention)


async def on_mention_redacted(session: AsyncSession, event: CloudEvent) -> None:
    """`listening.mention.redacted` → mark the interaction redacted."""
    await redact_interaction(
        session, tenant_id=event.tenantid, redacted=MentionRedacted.model_validate(event.data)
    )


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        durable="profiles-mentions", event_type="listening.mention.received", handler=on_mention_received
    ),
    Subscription(
        durable="profiles-redactions", event_type="listening.mention.redacted", handler=on_mention_redacted
    ),
]
