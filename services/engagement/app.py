"""The engagement app: conversations and webhooks APIs, their consumers and the webhook worker."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.engagement import models  # noqa: F401  (registers the tables for create_all)
from services.engagement.api import agents_router, router
from services.engagement.consumers import subscriptions
from services.engagement.outbound.consumers import SUBSCRIPTIONS as WEBHOOK_SUBSCRIPTIONS
from services.engagement.outbound.routes import router as webhooks_router
from services.engagement.replies_api import canned_router, messages_router
from services.engagement.settings import EngagementSettings
from services.engagement.state import EngagementState, engagement_state
from services.engagement.surveys_api import public_router as surveys_public_router
from services.engagement.surveys_api import settings_router as survey_settings_router
from services.engagement.surveys_api import staff_router as surveys_staff_router
from shared.auth import JWKSSource
from shared.service import Subscription, create_service_app


def create_app(settings: EngagementSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the engagement service."""

    def all_subscriptions(state: EngagementState) -> list[Subscription[Any]]:
        return [*subscriptions(state.settings), *WEBHOOK_SUBSCRIPTIONS]

    return create_service_app(
        settings=settings or EngagementSettings(),
        start=engagement_state,
        title="Rapport engagement",
        description="Conversations opened from actionable mentions, routed, assigned and worked by agents "
        "(statuses, snoozes, labels, notes); "
        "partner webhooks (signed deliveries of public events); "
        "CSAT/NPS surveys on resolve, answered by reply or by a public link.",
        routers=[
            router,
            agents_router,
            webhooks_router,
            messages_router,
            canned_router,
            survey_settings_router,
            surveys_staff_router,
            surveys_public_router,
        ],
        subscriptions=all_subscriptions,
        jwks=jwks,
    )
