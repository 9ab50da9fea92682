"""The profiles app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.profiles import models  # noqa: F401  (registers the tables for create_all)
from services.profiles.api import router
from services.profiles.consumers import SUBSCRIPTIONS
from services.profiles.settings import ProfilesSettings
from shared.auth import JWKSSource
from shared.service import create_service_app, runtime_only


def create_app(settings: ProfilesSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the profiles service: identity resolution of mentions, profiles and timelines."""
    return create_service_app(
        settings=settings or ProfilesSettings(),
        start=runtime_only,
        title="Rapport profiles",
        description="Resolves each mention's author to a customer profile, keeps the profile's counters "
        "and timeline, and publishes `profiles.profile.created` and `profiles.mention.resolved`.",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
    )
