"""The metrics app: scorecard API, the consumers folding events into the fact tables, and the periodic
snapshot of those tables (`snapshots.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from services.metrics import models  # noqa: F401  (registers the tables for create_all)
from services.metrics.api import router
from services.metrics.consumers import SUBSCRIPTIONS
from services.metrics.settings import MetricsSettings
from services.metrics.snapshots import SnapshotJob
from shared.auth import JWKSSource
from shared.service import Runtime, create_service_app


@asynccontextmanager
async def start(rt: Runtime[MetricsSettings]) -> AsyncIterator[Runtime[MetricsSettings]]:
    """The shared runtime, plus the snapshot job when snapshots are on."""
    settings = rt.settings
    if settings.metrics_snapshot_interval_hours > 0:
        job = SnapshotJob(
            sessions=rt.sessions,
            js=lambda: rt.bus.js,
            interval=timedelta(hours=settings.metrics_snapshot_interval_hours),
            poll_s=settings.metrics_snapshot_poll_s,
        )
        rt.spawn(job.run(), name="metrics-snapshot")
    yield rt


def create_app(settings: MetricsSettings | None = None, *, jwks: JWKSSource | None = None) -> FastAPI:
    """Build the metrics service."""
    return create_service_app(
        settings=settings or MetricsSettings(),
        start=start,
        title="Rapport metrics",
        description="Fact tables folded from every public event, and the Social CRM scorecard.",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        jwks=jwks,
    )
