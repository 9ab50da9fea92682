"""The listening app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.listening import models  # noqa: F401  (registers the tables for create_all)
from services.listening.api import router
from services.listening.api_analysis import router as analysis_router
from services.listening.api_channels import routers as channel_routers
from services.listening.api_queries import router as queries_router
from services.listening.api_usage import router as usage_router
from services.listening.consumers import subscriptions
from services.listening.settings import ListeningSettings
from services.listening.state import listening_state
from shared.auth import JWKSSource
from shared.service import create_service_app


def create_app(settings: ListeningSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the listening service: mention ingestion, analysis and reads."""
    return create_service_app(
        settings=settings or ListeningSettings(),
        start=listening_state,
        title="Rapport listening",
        description="Ingests social posts, de-duplicates and analyses them, and publishes "
        "`listening.mention.received`.",
        # analysis_router first: its /v1/mentions/stats and /labels must win over /v1/mentions/{id}.
        routers=[analysis_router, router, queries_router, usage_router, *channel_routers],
        subscriptions=subscriptions,
        jwks=jwks,
        # Platforms' webhook bodies are verified over their raw bytes; connectors strip control characters.
        raw_body_prefixes=("/v1/inbound/",),
    )
