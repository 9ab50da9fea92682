"""profiles' event subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.corrections import edit_interaction, reanalyse_interaction, redact_interaction
from services.profiles.logic.resolution import group_by_tenant, resolve_mentions
from shared.events.contracts import MentionEdited, MentionReanalysed, MentionReceived, MentionRedacted
from shared.events.envelope import Event
from shared.service import Subscription


async def on_mentions_received(session: AsyncSession, events: Sequence[Event[MentionReceived]]) -> None:
    """`listening.mention.received`, a fetched batch at once → resolve the authors, extend the timelines."""
    for tenant_id, mentions in group_by_tenant((e.tenantid, e.data) for e in events).items():
        await resolve_mentions(session, tenant_id=tenant_id, mentions=mentions)


async def on_mention_reanalysed(session: AsyncSession, event: Event[MentionReanalysed]) -> None:
    """`listening.mention.reanalysed` → the interaction's labels, and the profile's sentiment and intents."""
    await reanalyse_interaction(session, tenant_id=event.tenantid, reanalysed=event.data)


async def on_mention_edited(session: AsyncSession, event: Event[MentionEdited]) -> None:
    """`listening.mention.edited` → the interaction's excerpt and labels, and the profile's sentiment."""
    await edit_interaction(session, tenant_id=event.tenantid, edited=event.data)


async def on_mention_redacted(session: AsyncSession, event: Event[MentionRedacted]) -> None:
    """`listening.mention.redacted` → the interaction keeps no text and is marked redacted."""
    await redact_interaction(session, tenant_id=event.tenantid, redacted=event.data)


SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(durable="profiles-mentions", event=MentionReceived, batch_handler=on_mentions_received),
    Subscription(durable="profiles-reanalyses", event=MentionReanalysed, handler=on_mention_reanalysed),
    Subscription(durable="profiles-edits", event=MentionEdited, handler=on_mention_edited),
    Subscription(durable="profiles-redactions", event=MentionRedacted, handler=on_mention_redacted),
]
