"""profiles' privacy consumers and the keeper of the consent projection.

- `privacy.consent.changed` (profiles' own): the person's state projected again from the database
  (idempotent; it catches up a request whose projection failed after its commit, and merges made in the
  background).
- `privacy.policy.changed` (profiles' own): the tenant's policy projected again.
- `privacy.consent.captured` (engagement): recorded in the ledger with its source and evidence, once per
  source message (`consent.capture_ref`).
- `privacy.audit.recorded` (the gateway and the services): kept in the audit log.

The keeper rebuilds the whole projection at start-up and whenever `consent:ready` is gone (a flushed or
new Redis), checking every `consent_ready_check_s` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic import consent
from services.profiles.logic.audit import store_audit
from services.profiles.logic.privacy_policy import project_tenant_policy
from services.profiles.logic.resolution import lock_profiles
from services.profiles.settings import ProfilesSettings
from shared.consent import READY_KEY
from shared.events.contracts import AuditRecorded, ConsentCaptured, ConsentChanged, PrivacyPolicyChanged
from shared.events.envelope import Event
from shared.events.inbox import first_time
from shared.service import Runtime, Subscription

log = logging.getLogger("rapport.profiles.consent")

CAPTURES = "profiles-consent-captures"


def consent_subscriptions(rt: Runtime[ProfilesSettings]) -> list[Subscription[Any]]:
    redis = rt.redis

    async def on_consent_changed(session: AsyncSession, event: Event[ConsentChanged]) -> None:
        """Project the person's current state (from the database, not the event: events may come late).

        Under the profile's lock, held until this transaction ends: a request changing the person waits
        for this projection and projects after it, so an older state never lands after a newer one."""
        profile_id = event.data.profile_id
        await lock_profiles(session, tenant_id=event.tenantid, ids=[profile_id])
        state = await consent.projected_state(session, event.tenantid, profile_id)
        await consent.project(redis, event.tenantid, profile_id, state)

    async def on_policy_changed(session: AsyncSession, event: Event[PrivacyPolicyChanged]) -> None:
        await project_tenant_policy(session, redis, event.tenantid)

    async def on_consent_captured(session: AsyncSession, event: Event[ConsentCaptured]) -> None:
        """Record what the person said where they said it; a merged-away id's survivor receives it."""
        captured = event.data
        profile_id = await consent.survivor_of(session, event.tenantid, captured.profile_id)
        if profile_id is None:
            log.warning("consent.capture_unknown_profile", extra={"tenant_id": event.tenantid})
            return
        ref = consent.capture_ref(event.tenantid, captured)
        if ref is not None and not await first_time(session, consumer=CAPTURES, key=ref):
            # The same message captured again (a platform's redelivery announced twice): recorded once.
            log.info("consent.capture_repeated", extra={"tenant_id": event.tenantid})
            return
        # Serialised with the ledger's other writers of this person (PostgreSQL; SQLite has one writer).
        await lock_profiles(session, tenant_id=event.tenantid, ids=[profile_id])
        await consent.record(
            session,
            tenant_id=event.tenantid,
            profile_id=profile_id,
            entries=[
                consent.Entry(
                    kind="consent",
                    purpose=captured.purpose,
                    status=captured.status,
                    source=captured.source,
                    evidence={**captured.evidence, "captured_at": captured.captured_at.isoformat()},
                )
            ],
        )

    async def on_audit_recorded(session: AsyncSession, event: Event[AuditRecorded]) -> None:
        await store_audit(session, tenant_id=event.tenantid, record=event.data)

    return [
        Subscription(
            durable="profiles-consent-projection",
            event=ConsentChanged,
            handler=on_consent_changed,
            linger_ms=0,
        ),
        Subscription(
            durable="profiles-policy-projection", event=PrivacyPolicyChanged, handler=on_policy_changed
        ),
        Subscription(
            durable=CAPTURES,
            event=ConsentCaptured,
            handler=on_consent_captured,
            linger_ms=0,
        ),
        Subscription(durable="profiles-audit", event=AuditRecorded, handler=on_audit_recorded, linger_ms=0),
    ]


async def keep_projection(rt: Runtime[ProfilesSettings]) -> None:
    """Rebuild the projection now, then whenever `consent:ready` disappears (one EXISTS per check)."""
    settings = rt.settings
    rebuilt = False
    while True:
        try:
            if not rebuilt or not await rt.redis.exists(READY_KEY):
                await consent.rebuild(rt.sessions, rt.redis, batch=settings.consent_rebuild_batch)
                rebuilt = True
        except (RedisError, OSError) as exc:
            log.warning("consent.rebuild_failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(settings.consent_ready_check_s)
