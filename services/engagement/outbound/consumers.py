"""The events partners may subscribe to, consumed a stream at a time (one durable per domain).

One consumer per public stream rather than one per event type: idle pull consumers cost CPU, and a
subscription's wildcards (`engagement.*`) then need no new consumer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.outbound.deliveries import Refused, record_deliveries
from services.engagement.outbound.subscriptions import SUBSCRIBABLE_DOMAINS, SUBSCRIBABLE_TYPES
from shared import consent
from shared.events.contracts import Contract
from shared.events.envelope import Event
from shared.service import Subscription

DURABLE = "engagement-webhooks"


class ConsentNotReady(Exception):
    """The consent projection is not ready: the batch is retried later rather than delivered on a guess."""


def refused_on(redis: Redis) -> Refused:
    """The consent decision on `redis` (`shared.consent`), as `record_deliveries` asks it."""

    async def refused(tenant_id: str, purpose: str, profile_ids: Sequence[str]) -> set[str]:
        decisions = await consent.check_many(redis, tenant_id, profile_ids, purpose)
        if decisions is None:
            raise ConsentNotReady(purpose)
        return {pid for pid, decision in decisions.items() if not decision.allowed}

    return refused


def subscriptions(redis: Redis) -> list[Subscription[Any]]:
    """One durable per subscribable domain; deliveries follow the consent projection on `redis`."""
    refused = refused_on(redis)

    async def on_public_events(session: AsyncSession, events: Sequence[Event[Contract]]) -> None:
        """Any public event → a delivery per subscription that wants it (ids only where refused)."""
        await record_deliveries(session, events, refused)

    return [
        # No inbox: a delivery is unique on (subscription, event) and inserted ON CONFLICT DO NOTHING, so
        # a redelivered event changes nothing, and a batch no subscription wants writes nothing at all.
        Subscription(
            durable=f"{DURABLE}-{domain}",
            event=Contract,
            subject=f"{domain}.>",
            batch_handler=on_public_events,
            inbox=False,
        )
        for domain in SUBSCRIBABLE_DOMAINS
    ] + [
        Subscription(
            durable=f"{DURABLE}-{event_type.replace('.', '-')}",
            event=Contract,
            subject=event_type,
            batch_handler=on_public_events,
            inbox=False,
        )
        for event_type in SUBSCRIBABLE_TYPES
    ]
