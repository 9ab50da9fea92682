"""The listening app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.listening import models  # noqa: F401  (registers the tables for create_all)
from services.listening.api import router
from services.listening.settings import ListeningSettings
from shared.auth import JWKSSource
from shared.service import create_service_app


def create_app(settings: ListeningSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the listening service: mention ingestion, analysis and reads."""
    return create_service_app(
        settings=settings or ListeningSettings(),
        title="Rapport listening",
        description="Ingests social posts, de-duplicates and analyses them, and publishes "
        "`listening.mention.received`.",
        routers=[router],
        jwks=jwks,
    )
