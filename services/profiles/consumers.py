"""profiles' event subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.corrections import Relabel, redact_interaction, relabel_interactions
from services.profiles.logic.resolution import group_by_tenant, resolve_mentions
from shared.events.contracts import MentionEdited, MentionReanalysed, MentionReceived, MentionRedacted
from shared.events.envelope import Event
from shared.service import Subscription


async def on_mentions_received(session: AsyncSession, events: Sequence[Event[MentionReceived]]) -> None:
    """`listening.mention.received`, a fetched batch at once → resolve the authors, extend the timelines."""
    for tenant_id, mentions in group_by_tenant((e.tenantid, e.data) for e in events).items():
        await resolve_mentions(session, tenant_id=tenant_id, mentions=mentions)


async def on_mentions_reanalysed(session: AsyncSession, events: Sequence[Event[MentionReanalysed]]) -> None:
    """`listening.mention.reanalysed`, a fetched batch at once → the interactions' labels, and their
    profiles' sentiment and intents."""
    pairs = ((e.tenantid, Relabel(e.data.mention_id, e.data.analysis)) for e in events)
    for tenant_id, corrections in group_by_tenant(pairs).items():
        await relabel_interactions(session, tenant_id=tenant_id, corrections=corrections)


async def on_mentions_edited(session: AsyncSession, events: Sequence[Event[MentionEdited]]) -> None:
    """`listening.mention.edited`, a fetched batch at once → the interactions' excerpts and labels, and
    their profiles' sentiment."""
    pairs = ((e.tenantid, Relabel(e.data.mention_id, e.data.analysis, e.data.text)) for e in events)
    for tenant_id, corrections in group_by_tenant(pairs).items():
        await relabel_interactions(session, tenant_id=tenant_id, corrections=corrections)


async def on_mention_redacted(session: AsyncSession, event: Event[MentionRedacted]) -> None:
    """`listening.mention.redacted` → the interaction keeps no text and is marked redacted."""
    await redact_interaction(session, tenant_id=event.tenantid, redacted=event.data)


SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(durable="profiles-mentions", event=MentionReceived, batch_handler=on_mentions_received),
    Subscription(
        durable="profiles-reanalyses", event=MentionReanalysed, batch_handler=on_mentions_reanalysed
    ),
    Subscription(durable="profiles-edits", event=MentionEdited, batch_handler=on_mentions_edited),
    Subscription(durable="profiles-redactions", event=MentionRedacted, handler=on_mention_redacted),
]
