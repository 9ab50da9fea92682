"""The identity service's app factory."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from services.identity import models  # noqa: F401  (registers the tables before create_all)
from services.identity.api import router
from services.identity.consumers import SUBSCRIPTIONS
from services.identity.logic import keys
from services.identity.logic.denylist import keep_in_sync
from services.identity.settings import IdentitySettings
from shared.service import Runtime, create_service_app


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    """Build the identity app; it verifies its own tokens from its own key table (no HTTP to itself)."""
    settings = settings or IdentitySettings()

    async def own_jwks() -> dict[str, Any]:
        rt: Runtime = app.state.runtime
        async with rt.sessions() as session:
            return await keys.jwks(session)

    async def on_start(rt: Runtime) -> None:
        rt.extra["signer"] = await keys.ensure_signing_key(rt.sessions)
        # The revocation deny-list the gateway mirrors (written on logout, re-use, deactivation).
        redis = Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
        )
        rt.extra["redis"] = redis
        rt.tasks.append(
            asyncio.create_task(keep_in_sync(rt.sessions, redis, settings=settings), name="denylist-resync")
        )

    app = create_service_app(
        settings=settings,
        title="Rapport identity",
        description="Tenants, users and roles; password login; RS256 access tokens, rotated refresh "
        "tokens and the JWKS that every service verifies against.",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        jwks=own_jwks,
        on_start=on_start,
    )
    return app
