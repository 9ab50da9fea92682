"""The profiles app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.profiles import models  # noqa: F401  (registers the tables for create_all)
from services.profiles.api import router
from services.profiles.api_identity import router as identity_router
from services.profiles.consumers import subscriptions
from services.profiles.enrichment import router as enrichment_router
from services.profiles.partners import router as partners_router
from services.profiles.settings import ProfilesSettings
from shared.auth import JWKSSource
from shared.service import create_service_app, runtime_only


def create_app(settings: ProfilesSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the profiles service: identity resolution of mentions, profiles and timelines."""
    return create_service_app(
        settings=settings or ProfilesSettings(),
        start=runtime_only,
        title="Rapport profiles",
        description="One profile per customer across every handle: resolves each mention's author through "
        "an identity graph of identifiers (handles, platform user ids, e-mails, phones, websites, partner "
        "ids, each with its evidence), merges profiles that share a strong identifier (reversibly), suggests "
        "likely matches, and keeps each profile's timeline, sentiment trend, influence, intents, languages, "
        "lifecycle stage and lifetime value. Publishes `profiles.mention.resolved` (with a profile "
        "snapshot), `profiles.profile.created`, `.updated`, `.merged`, `.unmerged` and `.lifecycle_changed`.",
        routers=[partners_router, router, identity_router, enrichment_router],
        subscriptions=lambda rt: subscriptions(rt.redis),
        jwks=jwks,
    )
