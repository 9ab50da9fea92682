"""The listening app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.listening import models  # noqa: F401  (registers the tables on the metadata)
from services.listening.brand import routes as brand
from services.listening.channels import routes as channels
from services.listening.consumers import subscriptions
from services.listening.mentions import routes as mentions
from services.listening.queries import routes as queries
from services.listening.settings import ListeningSettings
from services.listening.state import listening_state
from services.listening.usage import routes as usage
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
        # One router per path prefix, so no two overlap; the order within a prefix is its routes.py's.
        routers=[mentions.router, queries.router, usage.router, *channels.routers, brand.router],
        subscriptions=subscriptions,
        jwks=jwks,
        # Platforms' webhook bodies are verified over their raw bytes; connectors strip control characters.
        raw_body_prefixes=("/v1/inbound/",),
    )
