"""The engagement app: conversations and webhooks APIs, their consumers and the webhook worker."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.engagement import models  # noqa: F401  (registers the tables for create_all)
from services.engagement.api import agents_router, router, stream_router
from services.engagement.consumers import subscriptions
from services.engagement.outbound.routes import router as webhooks_router
from services.engagement.privacy import erase_person, export_person
from services.engagement.replies_api import canned_router, messages_router
from services.engagement.settings import EngagementSettings
from services.engagement.sla_api import routing_router, sla_router
from services.engagement.state import EngagementState, engagement_state
from services.engagement.stream import StreamHub
from services.engagement.surveys_api import public_router as surveys_public_router
from services.engagement.surveys_api import settings_router as survey_settings_router
from services.engagement.surveys_api import staff_router as surveys_staff_router
from services.engagement.teams_api import moves_router, presence_router, teams_router
from services.engagement.tenant_privacy.routes import router as consent_keywords_router
from shared.auth import JWKSSource
from shared.privacy import privacy_subscriptions
from shared.service import Subscription, create_service_app


def create_app(settings: EngagementSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the engagement service."""

    def all_subscriptions(state: EngagementState) -> list[Subscription[Any]]:
        return [
            *subscriptions(state.settings),
            *privacy_subscriptions("engagement", export_person=export_person, erase_person=erase_person),
        ]

    settings = settings or EngagementSettings()
    app = create_service_app(
        settings=settings,
        start=engagement_state,
        title="Rapport engagement",
        description="Conversations opened from actionable mentions, routed, assigned and worked by agents "
        "(statuses, snoozes, labels, notes); "
        "partner webhooks (signed deliveries of public events); "
        "CSAT/NPS surveys on resolve, answered by reply or by a public link.",
        # The stream's fixed path before the conversation routes' `/{conversation_id}`.
        routers=[
            stream_router,
            router,
            agents_router,
            webhooks_router,
            messages_router,
            canned_router,
            teams_router,
            presence_router,
            moves_router,
            sla_router,
            routing_router,
            survey_settings_router,
            surveys_staff_router,
            surveys_public_router,
            consent_keywords_router,
        ],
        subscriptions=all_subscriptions,
        jwks=jwks,
    )
    # The live inbox's streams of this process (`GET /v1/conversations/stream`).
    app.state.streams = StreamHub(
        max_connections=settings.stream_max_connections, heartbeat_s=settings.stream_heartbeat_s
    )
    return app
