"""The engagement app: conversations API plus the agent and mention consumers."""

from __future__ import annotations

from fastapi import FastAPI

from services.engagement import models  # noqa: F401  (registers the tables for create_all)
from services.engagement.api import agents_router, router
from services.engagement.consumers import SUBSCRIPTIONS
from services.engagement.settings import EngagementSettings
from shared.auth import JWKSSource
from shared.service import create_service_app, runtime_only


def create_app(settings: EngagementSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the engagement service."""
    return create_service_app(
        settings=settings or EngagementSettings(),
        start=runtime_only,
        title="Rapport engagement",
        description="Conversations opened from actionable mentions, routed and assigned to agents.",
        routers=[router, agents_router],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
    )
