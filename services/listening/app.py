"""The listening app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.listening import models  # noqa: F401  (registers the tables for create_all)
from services.listening.channels import routes as channels
from services.listening.channels.pullers import start_pullers
from services.listening.consumers import SUBSCRIPTIONS
from services.listening.mentions import routes as mentions
from services.listening.mentions.analysing import start_worker
from services.listening.queries import routes as queries
from services.listening.queries.alerts import start_spike_checks
from services.listening.queries.backfill import start_backfills
from services.listening.settings import ListeningSettings
from services.listening.usage import routes as usage
from services.listening.usage.quotas import start_quotas
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
        # One router per path prefix, so no two overlap; the order within a prefix is its routes.py's.
        routers=[mentions.router, queries.router, usage.router, *channels.routers],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
        on_start=_on_start,
        # Platforms' webhook bodies are verified over their raw bytes; connectors strip control characters.
        raw_body_prefixes=("/v1/inbound/",),
    )
