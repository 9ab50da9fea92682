"""profiles' event subscriptions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.consent_effects import apply_consent_change, refusing
from services.profiles.logic.corrections import Relabel, redact_interaction, relabel_interactions
from services.profiles.logic.resolution import group_by_tenant, resolve_mentions
from shared.events.contracts import (
    ConsentChanged,
    MentionEdited,
    MentionReanalysed,
    MentionReceived,
    MentionRedacted,
)
from shared.events.envelope import Event
from shared.service import Subscription


def mentions_received(
    redis: Redis,
) -> Callable[[AsyncSession, Sequence[Event[MentionReceived]]], Awaitable[None]]:
    """`listening.mention.received`, a fetched batch at once → resolve the authors, extend the timelines
    (no profiling of a person who withdrew from or objected to it: the consent projection on `redis`)."""

    async def on_mentions_received(session: AsyncSession, events: Sequence[Event[MentionReceived]]) -> None:
        for tenant_id, mentions in group_by_tenant((e.tenantid, e.data) for e in events).items():
            await resolve_mentions(
                session, tenant_id=tenant_id, mentions=mentions, refusing=refusing(redis, tenant_id)
            )

    return on_mentions_received


def consent_changed(redis: Redis) -> Callable[[AsyncSession, Event[ConsentChanged]], Awaitable[None]]:
    """`privacy.consent.changed` → the person's segments and match suggestions follow the decision now."""

    async def on_consent_changed(session: AsyncSession, event: Event[ConsentChanged]) -> None:
        await apply_consent_change(session, redis, tenant_id=event.tenantid, profile_id=event.data.profile_id)

    return on_consent_changed


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


def subscriptions(redis: Redis) -> list[Subscription[Any]]:
    """profiles' subscriptions; those that check consent read the projection on `redis`."""
    return [
        Subscription(
            durable="profiles-mentions", event=MentionReceived, batch_handler=mentions_received(redis)
        ),
        Subscription(
            durable="profiles-consent-effects", event=ConsentChanged, handler=consent_changed(redis)
        ),
        *SUBSCRIPTIONS,
    ]


# Those that need no consent check.
SUBSCRIPTIONS: list[Subscription[Any]] = [
    Subscription(
        durable="profiles-reanalyses", event=MentionReanalysed, batch_handler=on_mentions_reanalysed
    ),
    Subscription(durable="profiles-edits", event=MentionEdited, batch_handler=on_mentions_edited),
    Subscription(durable="profiles-redactions", event=MentionRedacted, handler=on_mention_redacted),
]
