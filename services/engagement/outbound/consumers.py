"""The events partners subscribed to, consumed a type at a time: one durable per event type that some
subscription names, and none for the types nobody names.

An event no subscription of any tenant wants therefore costs nothing here: no delivery from the broker,
no parse, no transaction (the earlier per-stream durables read every public event, nearly five per
mention, to find most of them wanted by nobody).

Which durables exist follows the subscriptions table (`WebhookConsumers.reconcile`, when the process
starts and every `webhook_consumers_refresh_s` in every replica): each type that a subscription of any
tenant names, whatever its status (a paused one resumes where it paused), has its durable, and a durable
of a type nobody names is deleted (once older than `webhook_consumer_grace_s`: the subscription it was
made for may not have committed yet when a reconcile, of this replica or another, reads the table). A
durable created for a type starts at the creation of the earliest
subscription naming it, less `CLOCK_SKEW`, so nothing published after a subscription was made is missed,
whichever replica made it, even when another replica's reconcile deleted the durable in the moment the
subscription was being made. What such a start reads twice is delivered once: a delivery is unique on
(subscription, event), and an event from before a subscription was made is not delivered to it. Making or
changing a subscription creates its durables before it commits (`ensure`), so the replica that served the
request consumes them at once and the others within a refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import nats.errors
from nats.js.errors import NotFoundError
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.outbound.deliveries import Refused, record_deliveries
from services.engagement.outbound.models import WebhookSubscription
from services.engagement.outbound.subscriptions import subscribable, wants
from services.engagement.settings import EngagementSettings
from shared import consent
from shared.db import utcnow
from shared.errors import ServiceUnavailable
from shared.events.contracts import Contract
from shared.events.envelope import Event
from shared.service import Runtime, Subscription, consumer_of

log = logging.getLogger("rapport.engagement.webhooks")

PREFIX = "engagement-webhooks-"
# How far before a subscription's creation its new durable starts: the clocks of the producing services
# and of the broker may differ from this one's by less than this.
CLOCK_SKEW = timedelta(minutes=5)


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


def durable_of(event_type: str) -> str:
    """The durable consumer of one subscribable type (`engagement-webhooks-listening-mention-received`)."""
    return PREFIX + event_type.replace(".", "-")


def types_named(patterns: Sequence[str]) -> list[str]:
    """The subscribable types that exact types and wildcards name, in the catalog's order."""
    return [spec.name for spec in subscribable() if wants(patterns, spec.name)]


class WebhookConsumers:
    """The per-type durables of one engagement process: which exist, and which run here."""

    def __init__(self, rt: Runtime[EngagementSettings]) -> None:
        self._rt = rt
        self._refused = refused_on(rt.redis)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    async def _on_events(self, session: AsyncSession, events: Sequence[Event[Contract]]) -> None:
        """Events of a subscribed type → a delivery per subscription that wants one (ids only if refused)."""
        await record_deliveries(session, events, self._refused)

    def _subscription(self, event_type: str, since: datetime) -> Subscription[Contract]:
        # No inbox: a delivery is unique on (subscription, event) and inserted ON CONFLICT DO NOTHING, so a
        # redelivered event changes nothing, and a batch no subscription wants writes nothing at all.
        return Subscription(
            durable=durable_of(event_type),
            event=Contract,
            subject=event_type,
            batch_handler=self._on_events,
            inbox=False,
            start_time=since - CLOCK_SKEW,
        )

    async def _start(self, event_type: str, since: datetime, *, exists: bool = False) -> None:
        """The type's durable exists (created reading from `since`, less the skew) and runs here."""
        name = durable_of(event_type)
        consumer = consumer_of(self._rt, self._subscription(event_type, since))
        if not exists and await consumer.create():
            log.info("webhook.consumer_created", extra={"durable": name})
        task = self._running.get(name)
        if task is not None and not task.done():
            return
        if task is not None and not task.cancelled() and (failed := task.exception()) is not None:
            # Its durable could not be made or read (the broker was away): started again here.
            log.warning("webhook.consumer_ended", extra={"durable": name, "error": type(failed).__name__})
        self._running[name] = asyncio.create_task(consumer.run(), name=name)

    async def ensure(self, patterns: Sequence[str], since: datetime) -> None:
        """Before a subscription naming `patterns` commits: their types' durables exist and run here.
        503 when the broker cannot say (nothing is committed then)."""
        async with self._lock:
            try:
                for event_type in types_named(patterns):
                    await self._start(event_type, since)
            except (nats.errors.Error, OSError) as exc:
                log.warning("webhook.consumers_unavailable", extra={"error": type(exc).__name__})
                raise ServiceUnavailable("the event broker is unavailable; try again") from None

    async def _wanted(self) -> dict[str, datetime]:
        """Each type some subscription names → the creation of the earliest such subscription."""
        async with self._rt.sessions() as session:
            rows = (
                await session.execute(
                    select(col(WebhookSubscription.event_types), col(WebhookSubscription.created_at))
                )
            ).all()
        wanted: dict[str, datetime] = {}
        for patterns, created_at in rows:
            for event_type in types_named(json.loads(patterns)):
                if event_type not in wanted or created_at < wanted[event_type]:
                    wanted[event_type] = created_at
        return wanted

    async def _existing(self) -> dict[str, tuple[str, datetime]]:
        """The webhook durables the broker holds → their streams and creation times."""
        js = self._rt.bus.js
        found: dict[str, tuple[str, datetime]] = {}
        for stream in sorted({spec.stream for spec in subscribable()}):
            offset = 0
            while True:
                page = await js.consumers_info(stream, offset=offset)
                for info in page:
                    if info.name.startswith(PREFIX):
                        found[info.name] = (stream, info.created)
                if len(page) < 256:  # the server's page size
                    break
                offset += len(page)
        return found

    async def reconcile(self) -> None:
        """Durables for the named types, none for the others; each named one running here."""
        async with self._lock:
            wanted = await self._wanted()
            existing = await self._existing()
            for event_type, since in wanted.items():
                await self._start(event_type, since, exists=durable_of(event_type) in existing)
            keep = {durable_of(event_type) for event_type in wanted}
            young = utcnow() - timedelta(seconds=self._rt.settings.webhook_consumer_grace_s)
            spared = {name for name, (_, created) in existing.items() if created > young}
            for name, (stream, _) in existing.items():
                if name in keep or name in spared:
                    continue
                # Nobody names its type (or it is a per-stream durable of an earlier version, replaced by
                # the per-type ones just made: they start early enough to miss nothing).
                task = self._running.pop(name, None)
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                with contextlib.suppress(NotFoundError):
                    await self._rt.bus.js.delete_consumer(stream, name)
                log.info("webhook.consumer_deleted", extra={"durable": name})
            for name in [n for n in self._running if n not in keep and n not in spared]:
                self._running.pop(name).cancel()

    async def run(self) -> None:
        """Reconcile now and every `webhook_consumers_refresh_s` until cancelled; stop the consumers then."""
        try:
            while True:
                try:
                    await self.reconcile()
                except Exception:  # the broker or the database hiccuped: the next round tries again
                    log.exception("webhook.reconcile_failed")
                await asyncio.sleep(self._rt.settings.webhook_consumers_refresh_s)
        finally:
            tasks = list(self._running.values())
            self._running.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
