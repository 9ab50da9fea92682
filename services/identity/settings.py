"""Settings of the identity service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from shared.settings import Settings


class IdentitySettings(Settings):
    """identity's knobs on top of the shared settings."""

    service: str = "identity"
    # Public self-service signup (`POST /v1/tenants`); env RAPPORT_SIGNUP_ENABLED.
    signup_enabled: bool = True
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
