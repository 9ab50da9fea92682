"""The identity service's app factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.identity import models  # noqa: F401  (registers the tables before create_all)
from services.identity.api import router
from services.identity.consumers import SUBSCRIPTIONS
from services.identity.logic import keys
from services.identity.settings import IdentitySettings
from services.identity.state import identity_state
from shared.service import Runtime, create_service_app


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    """Build the identity app; it verifies its own tokens from its own key table (no HTTP to itself)."""

    async def own_jwks() -> dict[str, Any]:
        rt: Runtime[IdentitySettings] = app.state.runtime
        async with rt.sessions() as session:
            return await keys.jwks(session)

    app = create_service_app(
        settings=settings or IdentitySettings(),
        start=identity_state,
        title="Rapport identity",
        description="Tenants, users and roles; password login; RS256 access tokens, rotated refresh "
        "tokens and the JWKS that every service verifies against.",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        jwks=own_jwks,
    )
    return app
