"""engagement's state: the runtime, the secrets box, the webhook consumers and delivery worker, the clocks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.engagement.logic import rules, sla
from services.engagement.logic.conversations import wake_snoozed
from services.engagement.logic.presence import sweep
from services.engagement.logic.tenant_cache import TenantCache
from services.engagement.outbound.consumers import WebhookConsumers
from services.engagement.outbound.worker import DeliveryWorker
from services.engagement.settings import EngagementSettings
from services.engagement.tenant_privacy.retention import retention_job
from shared.secrets import SecretBox
from shared.service import Runtime, state_dependency

log = logging.getLogger("rapport.engagement.state")


@dataclass
class EngagementState:
    runtime: Runtime[EngagementSettings]
    box: SecretBox
    worker: DeliveryWorker
    # The per-type durables of partner webhooks (`outbound/consumers.py`).
    webhooks: WebhookConsumers

    @property
    def settings(self) -> EngagementSettings:
        return self.runtime.settings


async def snooze_clock(rt: Runtime[EngagementSettings]) -> None:
    """Every `snooze_poll_s`, open again the snoozed conversations whose time has come. The time is stored,
    so a snooze outlives restarts; several replicas skip each other's locked rows (PostgreSQL)."""
    while True:
        try:
            async with rt.sessions() as session:
                woke = await wake_snoozed(session)
            if woke:
                log.info("conversations.woke", extra={"count": woke})
        except Exception:  # a database hiccup: logged, and the next tick tries again
            log.exception("conversations.wake_failed")
        await asyncio.sleep(rt.settings.snooze_poll_s)


async def sla_clock(rt: Runtime[EngagementSettings]) -> None:
    """Every `sla_poll_s`, fire the SLA warnings (80 %) and breaches (100 %) that are due, each once (the
    marks and what fired are stored on the conversation; replicas skip each other's locked rows), and
    apply the tenants' SLA routing rules to them."""
    while True:
        try:
            while True:  # a full batch: more may be due
                async with rt.sessions() as session:
                    seen, _ = await sla.fire_due(session, act=rules.act_on_sla, batch=SLA_BATCH)
                if seen < SLA_BATCH:
                    break
        except Exception:  # a database hiccup: logged, and the next tick tries again
            log.exception("sla.clock_failed")
        await asyncio.sleep(rt.settings.sla_poll_s)


SLA_BATCH = 200


async def presence_sweeper(rt: Runtime[EngagementSettings]) -> None:
    """Every `presence_sweep_s`, take offline the agents whose heartbeat lapsed (their conversations go
    back to the queue). Any number of replicas may run it: each decision is re-checked under the
    tenant's lock on the stored presence."""
    while True:
        try:
            swept = await sweep(rt.sessions, rt.redis, ttl_s=rt.settings.presence_ttl_s)
            if swept:
                log.info("agents.swept_offline", extra={"count": swept})
        except Exception:  # a database or Redis hiccup: logged, and the next tick tries again
            log.exception("agents.sweep_failed")
        await asyncio.sleep(rt.settings.presence_sweep_s)


@asynccontextmanager
async def engagement_state(rt: Runtime[EngagementSettings]) -> AsyncIterator[EngagementState]:
    """Build the state and start the delivery worker as a service task (/readyz watches it)."""
    settings = rt.settings
    box = SecretBox.from_settings(
        secret_key=settings.secret_key, var_dir=settings.var_dir, service=settings.service
    )
    worker = DeliveryWorker(
        rt.sessions,
        reader=rt.reader,
        box=box,
        source=settings.service,
        allow_private=settings.webhook_allow_private_urls,
        schedule=settings.webhook_retry_schedule,
        timeout_s=settings.webhook_timeout_s,
        endpoint_concurrency=settings.webhook_endpoint_concurrency,
        endpoint_rate_per_s=settings.webhook_endpoint_rate_per_s,
        max_in_flight=settings.webhook_max_in_flight,
        disable_after=settings.webhook_disable_after_failures,
        poll_s=settings.webhook_poll_s,
        retention_days=settings.webhook_log_retention_days,
        metrics=rt.metrics,
    )
    rt.spawn(worker.run(), name="webhook-deliveries")
    webhooks = WebhookConsumers(rt)
    rt.spawn(webhooks.run(), name="webhook-consumers")
    rt.spawn(snooze_clock(rt), name="snooze-clock")
    TenantCache.set_refresh(settings.routing_rules_refresh_s)  # rules, teams and SLA policies
    rt.spawn(sla_clock(rt), name="sla-clock")
    rt.spawn(presence_sweeper(rt), name="presence-sweeper")
    rt.spawn(retention_job(rt.sessions, settings).run(), name="retention")
    yield EngagementState(runtime=rt, box=box, worker=worker, webhooks=webhooks)


EngagementStateDep = Annotated[EngagementState, Depends(state_dependency(EngagementState))]
