"""The metrics app: scorecard API plus the counter consumers."""

from __future__ import annotations

from fastapi import FastAPI

from services.metrics import models  # noqa: F401  (registers the tables for create_all)
from services.metrics.api import router
from services.metrics.consumers import SUBSCRIPTIONS
from services.metrics.settings import MetricsSettings
from shared.auth import JWKSSource
from shared.service import create_service_app, runtime_only


def create_app(settings: MetricsSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the metrics service."""
    return create_service_app(
        settings=settings or MetricsSettings(),
        start=runtime_only,
        title="Rapport metrics",
        description="Daily counters folded from every public event, and the Social CRM scorecard.",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
    )
