"""profiles' event subscriptions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.resolution import redact_interaction, resolve_mention
from shared.events.contracts import MentionReceived, MentionRedacted
from shared.events.envelope import Event
from shared.service import Subscription


async def on_mention_received(session: AsyncSession, event: Event[MentionReceived]) -> None:
    """`listening.mention.received` → resolve the author to a profile and extend the timeline."""
    await resolve_mention(session, tenant_id=event.tenantid, mention=event.data)


async def on_mention_redacted(session: AsyncSession, event: Event[MentionRedacted]) -> None:
    """`listening.mention.redacted` → mark the interaction redacted."""
    await redact_interaction(session, tenant_id=event.tenantid, redacted=event.data)


SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(durable="profiles-mentions", event=MentionReceived, handler=on_mention_received),
    Subscription(durable="profiles-redactions", event=MentionRedacted, handler=on_mention_redacted),
]
