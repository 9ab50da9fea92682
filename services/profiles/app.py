"""The profiles app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.profiles import models  # noqa: F401  (registers the tables for create_all)
from services.profiles.api import router
from services.profiles.api_identity import router as identity_router
from services.profiles.consent_api import router as consent_router
from services.profiles.consent_consumers import consent_subscriptions, keep_projection
from services.profiles.consumers import subscriptions
from services.profiles.enrichment import router as enrichment_router
from services.profiles.partners import router as partners_router
from services.profiles.privacy_api import router as privacy_router
from services.profiles.privacy_requests import SUBSCRIPTIONS as REQUEST_SUBSCRIPTIONS
from services.profiles.privacy_requests import router as requests_router
from services.profiles.privacy_requests import spawn_scrubber
from services.profiles.settings import ProfilesSettings
from shared.auth import JWKSSource
from shared.service import Runtime, Subscription, create_service_app


def create_app(settings: ProfilesSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the profiles service: identity resolution of mentions, profiles and timelines."""
    return create_service_app(
        settings=settings or ProfilesSettings(),
        start=_start,
        title="Rapport profiles",
        description="One profile per customer across every handle: resolves each mention's author through "
        "an identity graph of identifiers (handles, platform user ids, e-mails, phones, websites, partner "
        "ids, each with its evidence), merges profiles that share a strong identifier (reversibly), suggests "
        "likely matches, and keeps each profile's timeline, sentiment trend, influence, intents, languages, "
        "lifecycle stage and lifetime value. Publishes `profiles.mention.resolved` (with a profile "
        "snapshot), `profiles.profile.created`, `.updated`, `.merged`, `.unmerged` and `.lifecycle_changed`. "
        "Keeps the consent ledger (projected into Redis for every consent check), the tenants' privacy "
        "policies, the audit log of access to personal data, and the people's export and erasure requests.",
        routers=[
            partners_router,
            router,
            identity_router,
            enrichment_router,
            consent_router,
            privacy_router,
            requests_router,
        ],
        subscriptions=_subscriptions,
        jwks=jwks,
    )


def _subscriptions(rt: Runtime[ProfilesSettings]) -> list[Subscription[Any]]:
    return [*subscriptions(rt.redis), *consent_subscriptions(rt), *REQUEST_SUBSCRIPTIONS]


@asynccontextmanager
async def _start(rt: Runtime[ProfilesSettings]) -> AsyncIterator[Runtime[ProfilesSettings]]:
    """profiles' state is the runtime; the consent projection keeper and the privacy requests' stream
    scrubber run beside the consumers."""
    rt.spawn(keep_projection(rt), name="consent-projection")
    await spawn_scrubber(rt)
    yield rt
