"""The listening app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.listening import models  # noqa: F401  (registers the tables for create_all)
from services.listening.channels.pullers import start_pullers
from services.listening.channels.routes import routers as channel_routers
from services.listening.consumers import SUBSCRIPTIONS
from services.listening.mentions.analysing import start_worker
from services.listening.mentions.routes import router
from services.listening.mentions.routes_labels import router as analysis_router
from services.listening.queries.alerts import start_spike_checks
from services.listening.queries.backfill import start_backfills
from services.listening.queries.routes import router as queries_router
from services.listening.settings import ListeningSettings
from services.listening.usage.quotas import start_quotas
from services.listening.usage.routes import router as usage_router
from shared.auth import JWKSSource
from shared.service import Runtime, create_service_app


async def _on_start(rt: Runtime) -> None:
    """Start-up hooks of listening: add yours here, in order."""
    await start_worker(rt)
    await start_quotas(rt)
    await start_pullers(rt)
    await start_backfills(rt)
    await start_spike_checks(rt)


def create_app(settings: ListeningSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the listening service: mention ingestion, analysis and reads."""
    return create_service_app(
        settings=settings or ListeningSettings(),
        title="Rapport listening",
        description="Ingests social posts, de-duplicates and analyses them, and publishes "
        "`listening.mention.received`.",
        # analysis_router first: its /v1/mentions/stats and /labels must win over /v1/mentions/{id}.
        routers=[analysis_router, router, queries_router, usage_router, *channel_routers],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
        on_start=_on_start,
        # Platforms' webhook bodies are verified over their raw bytes; connectors strip control characters.
        raw_body_prefixes=("/v1/inbound/",),
    )
